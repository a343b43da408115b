import { parseOutboundRule } from "../../core/index.js";
import type { Waiter } from "../runner.js";
import type { RunResult, WasiInputs } from "../types.js";
import { type FsImage, OverlayFs } from "../wasi/index.js";
import { cliImports } from "./host-cli.js";
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
  /** Its core modules by the names the generated code asks for, compiled (memories capped). */
  modules: Record<string, WebAssembly.Module>;
}

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, object>,
) => Record<string, unknown>;

/** Bytes of stderr kept per run (the log keeps less). */
const STDERR_CAP = 64 * 1024;

/**
 * Runs a component on a worker thread: a fresh instance per run (all of the generated glue's state and every
 * core instance are new, so nothing survives a run), with the host of this folder built for that run.
 */
export class ComponentRunner {
  private readonly instantiate: Instantiate;

  constructor(
    private readonly prepared: PreparedComponent,
    private readonly fs: FsImage,
    private readonly overlayCapBytes: number,
    private readonly waiter: Waiter,
  ) {
    // The generated module imports nothing and exports `instantiate` (and `_util`): as a function body it needs no
    // module loader, and each worker compiles it once per component.
    const body = prepared.js
      .replace(/^export function instantiate\(/m, "function instantiate(")
      .replace(/^export const _util\b/m, "const _util");
    this.instantiate = new Function(`${body}\nreturn instantiate;`)() as Instantiate;
  }

  run(inputs: WasiInputs, deadlineAt: number, maxOutputBytes: number): RunResult {
    const start = performance.now();
    const stderr = new ByteCollector(STDERR_CAP, "drop");
    const inv: Invocation = {
      deadlineAt,
      waiter: this.waiter,
      args: inputs.args,
      env: envPairs(inputs.env),
      stdin: inputs.stdin,
      stdout: new ByteCollector(maxOutputBytes, "throw"),
      stderr,
      fs: new OverlayFs(this.fs, this.overlayCapBytes),
      outbound: (inputs.allowOutbound ?? []).map((p) => parseOutboundRule(p)),
      log: (line) => stderr.push(Buffer.from(`${line}\n`)),
    };
    const answer: HttpAnswer = {};
    let exitCode = 0;
    let error: RunResult["error"];
    enterInvocation(inv);
    try {
      const exports = this.instantiate((name) => this.prepared.modules[name], this.imports(inv));
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
    } catch (e) {
      const failure = classify(e);
      exitCode = failure.exitCode;
      error = failure.error;
    } finally {
      enterInvocation(undefined);
    }
    const result: RunResult = {
      exitCode,
      stdout: inv.stdout.bytes(),
      stderr: stderr.bytes(),
      durationMs: performance.now() - start,
    };
    if (error) result.error = error;
    else if (answer.response)
      result.http = { status: answer.response.status, headers: answer.response.fields.toPairs() };
    return result;
  }

  private imports(inv: Invocation): Record<string, object> {
    return {
      ...ioImports(),
      ...cliImports(inv),
      ...fsImports(inv),
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
      "wasi:http/outgoing-handler": outgoingHandler(inv),
    };
  }
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
  if (e instanceof StopSignal) return { exitCode: 1, error: { kind: e.kind, message: e.message } };
  if (e instanceof OutputLimitSignal) return { exitCode: 1, error: { kind: "output", message: e.message } };
  if (e instanceof RangeError && /memory|allocation/i.test(e.message))
    return { exitCode: 1, error: { kind: "oom", message: `memory over its cap: ${e.message}` } };
  const message = e instanceof Error ? e.message : String(e);
  // A failed `wasi:cli/run` (result err) comes back as a thrown ComponentError.
  if (e instanceof Error && e.name === "ComponentError")
    return { exitCode: 1, error: { kind: "exit", message: "exited with status 1" } };
  return { exitCode: 1, error: { kind: "trap", message } };
}
