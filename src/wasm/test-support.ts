// Helpers for this folder's tests and benchmark: assembling WAT, reading fixtures, and running modules with
// a minimal WASI (fd_write + proc_exit) and a fuel-refilling deadline import.
import { readFileSync } from "node:fs";
import wabtInit from "wabt";
import { customSection } from "../core/test-support.js";
import { DEADLINE_IMPORT, FUEL_EXPORT, MEMORY_GROW_IMPORT } from "./instrument.js";

const FEATURES = {
  exceptions: true,
  tail_call: true,
  simd: true,
  multi_value: true,
  bulk_memory: true,
  reference_types: true,
  sat_float_to_int: true,
  sign_extension: true,
  mutable_globals: true,
  threads: true,
};

let wabt: ReturnType<typeof wabtInit> | undefined;

/**
 * Assembles WAT text (with the post-MVP features V8 in Node 20 supports), keeping names in a name section.
 * Validation is left to V8: wabt rejects shared memories even with threads enabled.
 */
export async function wat(text: string): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const m = (await wabt).parseWat("test.wat", text, FEATURES);
  try {
    m.resolveNames();
    return m.toBinary({ write_debug_names: true }).buffer;
  } finally {
    m.destroy();
  }
}

/**
 * A module exporting `add` and `memory`, then `count` functions of 40 instructions each, all valid but the `bad`th of
 * them (none when -1; V8 numbers it `bad + 1`), then a custom section of `pad` bytes (none when 0).
 */
export async function manyFunctions(count: number, bad: number, pad = 0): Promise<Uint8Array> {
  const body = "(local i32) " + "(local.set 0 (i32.add (local.get 0) (i32.const 7))) ".repeat(10);
  let fns = "";
  for (let i = 0; i < count; i++) fns += i === bad ? "(func (result i32) nop)\n" : `(func ${body})\n`;
  const m = await wat(
    `(module (memory (export "memory") 1) (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add) ${fns})`,
  );
  return pad === 0 ? m : new Uint8Array(Buffer.concat([m, customSection("pad", new Uint8Array(pad))]));
}

/** Validates `bytes` with wabt (which knows proposals V8 does not enable) and disassembles it. */
export async function wasmText(bytes: Uint8Array): Promise<string> {
  wabt ??= wabtInit();
  const m = (await wabt).readWasm(bytes, { ...FEATURES, readDebugNames: true });
  try {
    m.validate();
    m.applyNames();
    return m.toText({});
  } finally {
    m.destroy();
  }
}

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../../../src/wasm/fixtures/${name}`, import.meta.url)));
}

/** What the test deadline import throws once its budget of calls is spent. */
export class DeadlineExceeded extends Error {}

export interface Budget {
  /** Fuel given at each deadline call. */
  refill: number;
  /** Deadline calls that refill; the next one throws DeadlineExceeded. */
  maxCalls: number;
}

export interface Instance {
  exports: Record<string, unknown>;
  /** How many times `wasmlet.deadline` was called. */
  deadlineCalls(): number;
}

/** Instantiates a module, giving an instrumented one a deadline import that follows `budget`. */
export function instantiate(
  bytes: Uint8Array,
  budget: Budget = { refill: 10_000, maxCalls: Number.POSITIVE_INFINITY },
  imports: WebAssembly.Imports = {},
): Instance {
  let calls = 0;
  let exports: Record<string, unknown> = {};
  const deadline = () => {
    calls++;
    if (calls > budget.maxCalls) throw new DeadlineExceeded(`deadline after ${calls - 1} refills`);
    // During a start function the instance (and so the fuel export) does not exist yet: leaving fuel
    // negative makes every check call back here until it does.
    const fuel = exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
    if (fuel) fuel.value = budget.refill;
  };
  // memory.grow semantics through the host: -1 when the memory cannot grow (past its maximum).
  const memoryGrow = (delta: number): number => {
    const memory = Object.values(exports).find((v) => v instanceof WebAssembly.Memory) as WebAssembly.Memory;
    try {
      return memory.grow(delta);
    } catch {
      return -1;
    }
  };
  const all = {
    ...imports,
    [DEADLINE_IMPORT.module]: { [DEADLINE_IMPORT.name]: deadline, [MEMORY_GROW_IMPORT.name]: memoryGrow },
  };
  const module = new WebAssembly.Module(bytes as BufferSource);
  const instance = new WebAssembly.Instance(module, all);
  exports = instance.exports as Record<string, unknown>;
  return { exports, deadlineCalls: () => calls };
}

class ProcExit {
  constructor(readonly code: number) {}
}

const ENOSYS = 52;

/** Runs a WASI command's `_start` with fd_write and proc_exit only (other WASI calls fail with ENOSYS). */
export function runCommand(
  bytes: Uint8Array,
  budget?: Budget,
): { stdout: string; exitCode: number; deadlineCalls: number } {
  const chunks: Uint8Array[] = [];
  let memory: WebAssembly.Memory | undefined;
  const wasi: Record<string, (...args: number[]) => number> = {
    fd_write(fd, iovs, iovsLen, nwritten) {
      const view = new DataView(memory!.buffer);
      let total = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + 8 * i, true);
        const len = view.getUint32(iovs + 8 * i + 4, true);
        if (fd === 1) chunks.push(new Uint8Array(memory!.buffer, ptr, len).slice());
        total += len;
      }
      view.setUint32(nwritten, total, true);
      return 0;
    },
    proc_exit(code) {
      throw new ProcExit(code);
    },
  };
  const names = WebAssembly.Module.imports(new WebAssembly.Module(bytes as BufferSource));
  for (const i of names) if (i.module === "wasi_snapshot_preview1") wasi[i.name] ??= () => ENOSYS;
  const instance = instantiate(bytes, budget, { wasi_snapshot_preview1: wasi });
  memory = instance.exports.memory as WebAssembly.Memory;
  let exitCode = 0;
  try {
    (instance.exports._start as () => void)();
  } catch (e) {
    if (!(e instanceof ProcExit)) throw e;
    exitCode = e.code;
  }
  return { stdout: Buffer.concat(chunks).toString(), exitCode, deadlineCalls: instance.deadlineCalls() };
}
