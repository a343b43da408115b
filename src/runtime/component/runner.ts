import { parseOutboundRule } from "../../core/index.js";
import { FUEL_EXPORT } from "../../wasm/index.js";
import { stretchBudget } from "../cpu-budget.js";
import { type MemoryImage, type RunnerResult, restoreImage, takeImage, type Waiter } from "../runner.js";
import type { RunResult, WasiInputs } from "../types.js";
import { type FsImage, MountLayer, OverlayFs } from "../wasi/index.js";
import { exposeTables, fastGlue, GLUE_TABLES, type GlueTables } from "./glue.js";
import { cliImports } from "./host-cli.js";
import { configImports } from "./host-config.js";
import { fsImports } from "./host-fs.js";
import {
  enterInvocation,
  Fields,
  FutureTrailers,
  type HttpAnswer,
  httpErrorCode,
  IncomingBody,
  IncomingRequest,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
} from "./host-http.js";
import { ioImports } from "./host-io.js";
import { ByteCollector, ExitSignal, type Invocation, OutputLimitSignal, StopSignal } from "./invocation.js";
import {
  FutureIncomingResponse,
  IncomingResponse,
  OutgoingRequest,
  outgoingHandler,
  RequestOptions,
} from "./outgoing.js";

/** A transpiled component as jco's `instantiation: "sync"` output gives it, ready to instantiate. */
export interface PreparedComponent {
  /** The generated ES module's source (it imports nothing; its imports come through `instantiate`). */
  js: string;
  /** Its core modules by the names the generated code asks for: compiled (memories capped), and the exports
   * of their mutable globals. */
  modules: Record<string, { module: WebAssembly.Module; globals: string[] }>;
  /** False when a core module does what a memory-and-globals reset cannot undo: every run then instantiates. */
  resettable: boolean;
}

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, object>,
  instantiateCore: (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance,
) => Record<string, unknown>;

/** An instantiated component and what it takes to put it back to its state right after instantiation. */
interface Live {
  exports: Record<string, unknown>;
  memories: { memory: WebAssembly.Memory; image: MemoryImage }[];
  globals: { global: WebAssembly.Global; initial: number | bigint }[];
  /** The fuel counter of each core instance, refilled before every run. */
  fuel: WebAssembly.Global[];
  /** The glue's resource tables as instantiation left them; absent when the glue does not show them (exposeTables). */
  tables?: TableImage[];
  runs: number;
}

/** One resource type's handle table (jco's flat array of scope/rep pairs) and host objects, and their contents. */
interface TableImage {
  handles: unknown[] & { _createdReps?: Set<unknown> };
  initial: unknown[];
  captures: Map<number, unknown>;
  initialCaptures: [number, unknown][];
  /** jco's record of the reps it made handles for (written, never read): emptied so that it does not grow. */
  initialReps: unknown[];
  /** What the reset puts back: `initial`, then the slots runs added (restoreTable), as free ones. */
  restored: unknown[];
}

/** Longest a new instance may take on the request thread outside a run (the executor's main-thread budget). */
const MAIN_THREAD_INSTANTIATE_MS = 20;
/** Longest the first instance may take (`warm`, at deploy). */
const WARM_INSTANTIATE_MS = 1000;

/** Loop iterations and calls between two deadline checks of a core instance (as for modules). */
const FUEL_CHUNK = 20_000;

/** Bytes of stderr kept per run (the log keeps less). */
const STDERR_CAP = 64 * 1024;
/**
 * Runs after which an instance is made anew even though every reset succeeded, when the glue's resource tables
 * cannot be reset with it (exposeTables found no tables): they may keep handles a guest never dropped (its memory,
 * restored, no longer knows them).
 */
const MAX_RUNS_WITHOUT_TABLE_RESET = 1000;

/**
 * Runs a component, each run on a clean instance. Instantiating is expensive (jco's glue for a componentize-js
 * component: ~20–50 ms of JavaScript per instance, measured here), so the instance is reused: after a run that
 * returned normally its core memories and mutable globals are restored to their state right after instantiation
 * (the same reset modules get), and so are the glue's resource tables (exposeTables, restoreTable); a run that failed in any way, or grew a memory, is followed by a fresh instance.
 * Its core modules carry fuel checks (instrumentCoreModule), so a run stops by itself at its deadline, or at a
 * budget: without a Waiter (the request thread) a run that wants to wait or overruns its budget is stopped with
 * `overBudget` set, to be run again on a worker.
 */
export class ComponentRunner {
  private readonly instantiate: Instantiate;
  /** The resource tables of the instance `instantiate` made last (exposeTables), or undefined. */
  private readonly glueTables: () => GlueTables | undefined;
  private readonly imports: Record<string, object>;
  private readonly globalNames = new Map<WebAssembly.Module, string[]>();
  private live: Live | undefined;
  private deadlineAt = 0;
  private budgetAt = 0;
  /** What the last run left to do before the next: put the instance back (`reset`) or drop it. */
  private pending: "reset" | "drop" | undefined;
  /** The read-only layer of the function's secrets and configs, and the inputs' map it was built from. */
  private mounts: { source: WasiInputs["mounts"]; layer: MountLayer | null } = {
    source: undefined,
    layer: null,
  };

  constructor(
    private readonly prepared: PreparedComponent,
    private readonly fs: FsImage,
    private readonly overlayCapBytes: number,
    private readonly waiter?: Waiter,
  ) {
    // The generated module imports nothing and exports `instantiate` (and `_util`): as a function body it needs no
    // module loader, and each worker compiles it once per component.
    const fast = fastGlue(prepared.js);
    const exposed = exposeTables(fast);
    const body = (exposed ?? fast)
      .replace(/^export function instantiate\(/m, "function instantiate(")
      .replace(/^export const _util\b/m, "const _util");
    const glue = new Function(
      `${body}\nreturn { instantiate, tables: () => ${exposed ? GLUE_TABLES : "undefined"} };`,
    )() as { instantiate: Instantiate; tables: () => GlueTables | undefined };
    this.instantiate = glue.instantiate;
    this.glueTables = glue.tables;
    for (const { module, globals } of Object.values(prepared.modules)) this.globalNames.set(module, globals);
    this.imports = hostImports();
  }

  /**
   * Runs the component's export (`incoming-handler.handle` for an http request, else `run`). Stops the guest at
   * `deadlineAt` (performance.now() time), or earlier at `budgetAt`, or when it wants to wait and this runner has
   * no Waiter: then `overBudget` is set and the outputs are to be discarded.
   */
  run(inputs: WasiInputs, deadlineAt: number, budgetAt: number, maxOutputBytes: number): RunnerResult {
    const start = performance.now();
    const stderr = new ByteCollector(STDERR_CAP, "tail");
    const inv: Invocation = {
      deadlineAt,
      waiter: this.waiter,
      args: inputs.args,
      env: envPairs(inputs.env),
      stdin: inputs.stdin,
      stdout: new ByteCollector(maxOutputBytes, "throw"),
      stderr,
      fs: new OverlayFs(this.fs, this.overlayCapBytes, this.mountLayer(inputs.mounts)),
      outbound: (inputs.allowOutbound ?? []).map((p) => parseOutboundRule(p)),
      config: inputs.config ?? [],
      log: (line) => stderr.push(Buffer.from(`${line}\n`)),
    };
    const answer: HttpAnswer = {};
    let exitCode = 0;
    let error: RunResult["error"];
    let clean = false;
    let overBudget = false;
    this.settle();
    this.deadlineAt = deadlineAt;
    this.budgetAt = Math.min(budgetAt, deadlineAt);
    enterInvocation(inv);
    try {
      this.live ??= this.fresh();
      const { exports, fuel } = this.live;
      for (const f of fuel) f.value = FUEL_CHUNK;
      if (inputs.http) {
        const handler = exports.incomingHandler as { handle(req: unknown, out: unknown): void };
        handler.handle(new IncomingRequest(inv, inputs.http, inputs.stdin), new ResponseOutparam(answer));
        if (!answer.response)
          error = {
            kind: "trap",
            message:
              answer.error !== undefined
                ? `the component answered with an error: ${JSON.stringify(answer.error)}`
                : "the component returned without setting a response",
          };
      } else {
        (exports.run as { run(): void }).run();
      }
      clean = true;
    } catch (e) {
      const failure = classify(e);
      exitCode = failure.exitCode;
      error = failure.error;
      overBudget = e instanceof StopSignal && e.kind === "budget";
    } finally {
      enterInvocation(undefined);
      this.pending = clean ? "reset" : "drop";
    }
    const result: RunnerResult = {
      exitCode,
      stdout: inv.stdout.bytes(),
      stderr: stderr.bytes(),
      durationMs: performance.now() - start,
    };
    if (overBudget) result.overBudget = true;
    if (error) result.error = error;
    else if (answer.response)
      result.http = { status: answer.response.status, headers: answer.response.fields.toPairs() };
    return result;
  }

  /** Instantiates ahead of the first request, so that one pays no instantiation (and the glue is compiled). */
  warm(): void {
    this.settle();
    // Once, at deploy: the first instance also compiles the glue's functions, several times the later ones' cost.
    if (!this.live) this.instantiateBetweenRuns(WARM_INSTANTIATE_MS);
  }

  /** The layer for `mounts`, rebuilt only when the map differs from the last run's. */
  private mountLayer(mounts: WasiInputs["mounts"]): MountLayer | null {
    if (mounts !== this.mounts.source)
      this.mounts = { source: mounts, layer: mounts === undefined ? null : new MountLayer(mounts, this.fs) };
    return this.mounts.layer;
  }

  /**
   * Cleans up after the last run, and makes the next run's instance if it has none: the reset (~0.5 ms for a
   * componentize-js component's 9.5 MB memory) or a new instance (~35 ms of jco glue) happens after the result
   * has been sent, not before the next run (a worker calls this once it posted the result; `run` calls it too, in
   * case nobody did).
   */
  settle(): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === "drop" || (pending === "reset" && !this.reset())) this.live = undefined;
    if (pending !== undefined && !this.live)
      this.instantiateBetweenRuns(this.waiter ? 10_000 : MAIN_THREAD_INSTANTIATE_MS);
  }

  /**
   * A new instance outside any run, its start code bounded like a run's (on the request thread, by as much as a
   * run's budget there). If it fails the next run tries again, within its own deadline and budget, and reports why.
   */
  private instantiateBetweenRuns(limitMs: number): void {
    this.deadlineAt = this.budgetAt = performance.now() + limitMs;
    try {
      this.live = this.fresh();
    } catch {
      this.live = undefined;
    }
  }

  /** A new instance of the component, its memories and globals recorded as they are after instantiation. */
  private fresh(): Live {
    const cores: { module: WebAssembly.Module; instance: WebAssembly.Instance }[] = [];
    const fuel: WebAssembly.Global[] = [];
    const exports = this.instantiate(
      (name) => this.prepared.modules[name].module,
      this.imports,
      (module, imports) => {
        const core = this.coreImports(module, imports);
        const instance = new WebAssembly.Instance(module, { ...imports, wasmlet: core.wasmlet });
        core.attach(instance);
        cores.push({ module, instance });
        fuel.push(instance.exports[FUEL_EXPORT] as WebAssembly.Global);
        return instance;
      },
    );
    const memories: Live["memories"] = [];
    const globals: Live["globals"] = [];
    const seen = new Set<WebAssembly.Memory>();
    for (const { module, instance } of cores) {
      for (const value of Object.values(instance.exports))
        if (value instanceof WebAssembly.Memory && !seen.has(value)) {
          seen.add(value);
          memories.push({ memory: value, image: takeImage(new Uint8Array(value.buffer)) });
        }
      for (const n of this.globalNames.get(module) ?? []) {
        const global = instance.exports[n] as WebAssembly.Global;
        globals.push({ global, initial: global.value });
      }
    }
    return { exports, memories, globals, fuel, tables: this.tableImages(), runs: 0 };
  }

  /** The glue's resource tables as the instance just made has them, or undefined when they cannot be reset. */
  private tableImages(): TableImage[] | undefined {
    const glue = this.glueTables();
    if (!glue) return undefined;
    const images: TableImage[] = [];
    for (const [i, handles] of glue.handles.entries()) {
      if (!handles) continue;
      const captures = glue.captures[i];
      if (!Array.isArray(handles) || !(captures instanceof Map)) return undefined;
      const t = handles as TableImage["handles"];
      images.push({
        handles: t,
        initial: [...t],
        captures,
        initialCaptures: [...captures],
        initialReps: t._createdReps ? [...t._createdReps] : [],
        restored: [...t],
      });
    }
    return images;
  }

  /**
   * The `wasmlet` imports of one core instance (instrumentCoreModule): its deadline check, which refills its fuel
   * or stops the run, and its `memory.grow`, on the memory it imports or else the one it defines (known once
   * `attach` is given the instance). A grow past the cap (the memory's maximum) answers -1, as wasm's own would.
   */
  private coreImports(
    module: WebAssembly.Module,
    imports: WebAssembly.Imports,
  ): {
    wasmlet: { deadline: () => void; memory_grow: (delta: number) => number };
    attach: (instance: WebAssembly.Instance) => void;
  } {
    let fuel: WebAssembly.Global | undefined;
    let memory: WebAssembly.Memory | undefined;
    const imported = WebAssembly.Module.imports(module).find((i) => i.kind === "memory");
    if (imported) memory = imports[imported.module]?.[imported.name] as WebAssembly.Memory | undefined;
    return {
      wasmlet: {
        deadline: () => {
          this.checkpoint();
          if (fuel) fuel.value = FUEL_CHUNK;
        },
        memory_grow: (delta: number) => {
          this.checkpoint();
          try {
            return memory ? memory.grow(delta) : -1;
          } catch {
            return -1;
          }
        },
      },
      attach: (instance) => {
        fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
        memory ??= Object.values(instance.exports).find((v) => v instanceof WebAssembly.Memory) as
          | WebAssembly.Memory
          | undefined;
      },
    };
  }

  /** Stops the run past its deadline or budget, or once cancelled; called from the guest's fuel checks. */
  private checkpoint(): void {
    const now = performance.now();
    if (now >= this.deadlineAt) throw new StopSignal("timeout");
    if (now >= this.budgetAt) {
      // The request thread's budget may be stretched by the time its thread was paused (cpu-budget.ts).
      const later = stretchBudget(now);
      if (later === undefined) throw new StopSignal("budget");
      this.budgetAt = Math.min(later, this.deadlineAt);
    }
    if (this.waiter?.cancelled) throw new StopSignal("cancelled");
  }

  /** Puts the live instance back to its post-instantiation state; false when it cannot be (then it is dropped). */
  private reset(): boolean {
    const live = this.live;
    if (!live || !this.prepared.resettable) return false;
    if (!live.tables && ++live.runs >= MAX_RUNS_WITHOUT_TABLE_RESET) return false;
    for (const { memory, image } of live.memories) {
      if (memory.buffer.byteLength !== image.byteLength) return false;
      restoreImage(new Uint8Array(memory.buffer), image);
    }
    for (const { global, initial } of live.globals) global.value = initial;
    for (const t of live.tables ?? []) restoreTable(t);
    return true;
  }
}

/** The host side of every interface a component may import, acting on the run in progress. */
function hostImports(): Record<string, object> {
  return {
    ...ioImports(),
    ...cliImports(),
    ...fsImports(),
    ...configImports(),
    "wasi:http/types": {
      Fields,
      FutureIncomingResponse,
      FutureTrailers,
      IncomingBody,
      IncomingRequest,
      IncomingResponse,
      OutgoingBody,
      OutgoingRequest,
      OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode,
    },
    "wasi:http/outgoing-handler": outgoingHandler(),
  };
}

/** jco's flag on a handle table's slot (T_FLAG): set on the free list's links, and on the reps of owned handles. */
const T_FLAG = 1 << 30;
/** Slots a run may add to a table that the reset keeps (as free slots) rather than cutting off again. */
const KEPT_SLOTS = 256;

/**
 * Puts one resource table back as instantiation left it. jco's table is [free-list head, 0, then a scope/rep
 * pair per handle]; a slot that is free holds the next free one (with T_FLAG) and a new handle takes the head of
 * that list, else a slot pushed at the end. Slots a run added are kept, as a free list in ascending order, so the
 * next run is given the same handles as on a fresh instance without the array being cut and grown again at
 * every run; only when instantiation left no free slot (jco's own tables: none), and up to KEPT_SLOTS.
 */
function restoreTable(t: TableImage): void {
  const { handles, initial } = t;
  const n0 = initial.length;
  const n = handles.length;
  if (n > n0 && !(initial[0] === T_FLAG && n - n0 <= 2 * KEPT_SLOTS && n % 2 === 0)) {
    handles.length = n0;
    t.restored = [...initial];
  } else if (n !== t.restored.length) t.restored = n > n0 ? freeSlots(initial, n) : [...initial];
  // Values with T_FLAG are past V8's small integers (heap numbers): copied from the template, none is made anew.
  const restored = t.restored;
  for (let i = 0; i < restored.length; i++) if (handles[i] !== restored[i]) handles[i] = restored[i];
  if (
    t.captures.size !== t.initialCaptures.length ||
    !t.initialCaptures.every(([rep]) => t.captures.has(rep))
  ) {
    t.captures.clear();
    for (const [rep, obj] of t.initialCaptures) t.captures.set(rep, obj);
  }
  const reps = handles._createdReps;
  if (reps && reps.size !== t.initialReps.length) {
    reps.clear();
    for (const rep of t.initialReps) reps.add(rep);
  }
}

/** A table as instantiation left it (no free slot) followed by the slots up to length `n`, free in ascending order. */
function freeSlots(initial: readonly unknown[], n: number): unknown[] {
  const out = [...initial];
  const last = n / 2 - 1;
  out[0] = (initial.length / 2) | T_FLAG;
  for (let h = initial.length / 2; h <= last; h++) out.push((h < last ? h + 1 : 0) | T_FLAG, 0);
  return out;
}

function envPairs(env: WasiInputs["env"]): [string, string][] {
  const list = Array.isArray(env)
    ? env
    : env.offsets.map((o, i) =>
        Buffer.from(env.bytes.subarray(o, (env.offsets[i + 1] ?? env.bytes.length) - 1)).toString("utf8"),
      );
  return list.map((kv) => {
    const eq = kv.indexOf("=");
    return eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

/** A run's failure as the runtime reports it; a guest's `exit(ok)` is a success. */
function classify(e: unknown): { exitCode: number; error?: RunResult["error"] } {
  if (e instanceof ExitSignal)
    return e.code === 0
      ? { exitCode: 0 }
      : { exitCode: e.code, error: { kind: "exit", message: `exited with status ${e.code}` } };
  if (e instanceof StopSignal)
    return { exitCode: 1, error: { kind: e.kind === "budget" ? "timeout" : e.kind, message: e.message } };
  if (e instanceof OutputLimitSignal) return { exitCode: 1, error: { kind: "output", message: e.message } };
  if (e instanceof RangeError && /memory|allocation/i.test(e.message))
    return { exitCode: 1, error: { kind: "oom", message: `memory over its cap: ${e.message}` } };
  const message = e instanceof Error ? e.message : String(e);
  // A failed `wasi:cli/run` (result err) comes back as a thrown ComponentError, or (jco-transpile's glue throws
  // the err's payload) as a thrown `undefined`.
  if (e === undefined || (e instanceof Error && e.name === "ComponentError"))
    return { exitCode: 1, error: { kind: "exit", message: "exited with status 1" } };
  return { exitCode: 1, error: { kind: "trap", message } };
}
