import {
  DEFAULT_LIMITS,
  type Digest,
  type FunctionRecord,
  type LoadedImage,
  toWasmletError,
  WasmletError,
} from "../core/index.js";
import { CONTRACTS } from "./contracts/index.js";
import { FunctionGate } from "./gate.js";
import type {
  ContractMap,
  Executor,
  InvocationRecord,
  InvocationRequest,
  InvocationResponse,
  RunLimits,
  RunResult,
} from "./types.js";
import { warmUpFunction } from "./warm-up.js";

/** What a 503 tells the caller to wait before trying again, in seconds. */
const RETRY_AFTER_S = "1";

/** Longest stderr kept per invocation in the log (the tail is kept). */
const STDERR_LOG_BYTES = 8192;

export interface RuntimeOptions {
  executor: Executor;
  /** Fetches a function's image by its pinned digest (from the registry). */
  loadImage: (fn: FunctionRecord) => Promise<LoadedImage>;
  /** Receives one record per invocation (the composition root batches them into the store). */
  onLog?: (record: InvocationRecord) => void;
  contracts?: ContractMap;
}

/**
 * Turns HTTP invocations into runs: makes sure the function's digest is prepared (once, de-duplicated),
 * applies its contract, runs it under its limits, maps failures to statuses (ARCHITECTURE "Failure semantics")
 * and logs every invocation.
 */
export class Runtime {
  private readonly entries = new Map<Digest, string>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly contracts: ContractMap;
  /** Per function name: invocations in flight and waiting (its concurrency limit and queue). */
  private readonly gates = new Map<string, FunctionGate>();

  constructor(private readonly options: RuntimeOptions) {
    this.contracts = options.contracts ?? CONTRACTS;
  }

  /** Pulls and prepares a function's current version; called at deploy and on first use. Rejects with the reason. */
  prepare(fn: FunctionRecord): Promise<void> {
    const limits = runLimits(fn);
    const digest = fn.current.digest;
    if (this.entries.has(digest) && this.options.executor.isPrepared(digest, limits))
      return Promise.resolve();
    const key = `${digest}/${limits.memoryMiB}`;
    let p = this.loading.get(key);
    if (!p) {
      p = (async () => {
        const image = await this.options.loadImage(fn);
        await this.options.executor.prepare(image, limits);
        this.entries.set(digest, image.entry);
      })().finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /**
   * Runs the built-in warm-up function (warm-up.ts) twice through the WAGI contract and the executor — the
   * second run on the reset instance — so that a server's first real request does not pay for compiling the
   * request path. Not logged. Rejects if it does not answer as expected (a broken request path).
   */
  async warmUp(): Promise<void> {
    const { fn, image, request, expectedBody } = warmUpFunction();
    const limits = runLimits(fn);
    await this.options.executor.prepare(image, limits);
    const contract = this.contracts[fn.contract];
    for (let i = 0; i < 2; i++) {
      const result = await this.options.executor.run(
        image.digest,
        contract.prepare(request, fn, image.entry),
        limits,
        performance.now() + limits.timeoutMs,
      );
      if (result.error) throw runError(fn, result);
      const res = contract.respond(result);
      const body = Buffer.from(res.body).toString("latin1");
      if (res.status !== 200 || body !== expectedBody)
        throw new WasmletError(
          "INTERNAL",
          `the warm-up function answered ${res.status} ${JSON.stringify(body)}`,
        );
    }
  }

  /**
   * Runs one request against a function. Never rejects: every failure becomes a response (and a log record).
   * At most `limits.concurrency` invocations of a function run at once; up to `limits.queue` more wait for a
   * turn, the rest get 503 with Retry-After. The function's timeout counts from the request's arrival, so
   * time spent waiting is part of it; a caller that goes away while its invocation waits or runs cancels it.
   */
  async invoke(fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> {
    const started = Date.now();
    const digest = fn.current.digest;
    const deadlineAt = (req.arrivedAt ?? performance.now()) + fn.limits.timeoutMs;
    let gate = this.gates.get(fn.name);
    if (!gate) {
      gate = new FunctionGate();
      this.gates.set(fn.name, gate);
    }
    let entered = false;
    let result: RunResult | undefined;
    try {
      if (req.body.byteLength > fn.limits.maxBodyBytes)
        throw new WasmletError(
          "PAYLOAD_TOO_LARGE",
          `request body of ${req.body.byteLength} bytes is over the function's limit of ${fn.limits.maxBodyBytes}`,
        );
      const limits = runLimits(fn);
      const concurrency = fn.limits.concurrency ?? DEFAULT_LIMITS.concurrency;
      if (!gate.tryEnter(concurrency))
        await gate.wait(fn.name, fn.limits.queue ?? DEFAULT_LIMITS.queue, deadlineAt, req.cancel);
      entered = true;
      let entry = this.entries.get(digest);
      if (entry === undefined || !this.options.executor.isPrepared(digest, limits)) {
        await this.prepare(fn).catch((e) => {
          throw new WasmletError(
            "IMAGE_PULL_FAILED",
            `cannot load image ${fn.current.image}: ${errMessage(e)}`,
            {
              cause: e,
            },
          );
        });
        entry = this.entries.get(digest) as string;
      }
      const contract = this.contracts[fn.contract];
      result = await this.options.executor.run(
        digest,
        contract.prepare(req, fn, entry),
        limits,
        deadlineAt,
        req.cancel,
      );
      if (result.error) throw runError(fn, result);
      const res = contract.respond(result);
      this.log(fn, req, started, res.status, result);
      return res;
    } catch (e) {
      const err = toWasmletError(e);
      this.log(fn, req, started, err.status, result, err.message);
      return errorResponse(err);
    } finally {
      if (entered) gate.leave();
    }
  }

  private log(
    fn: FunctionRecord,
    req: InvocationRequest,
    started: number,
    status: number,
    result?: RunResult,
    error?: string,
  ): void {
    const onLog = this.options.onLog;
    if (!onLog) return;
    const stderr = result?.stderr ?? NO_BYTES;
    const record: InvocationRecord = {
      function: fn.name,
      digest: fn.current.digest,
      startedMs: started,
      status,
      durationMs: result ? Math.round(result.durationMs * 1000) / 1000 : Date.now() - started,
      stderr:
        stderr.byteLength > STDERR_LOG_BYTES ? stderr.subarray(stderr.byteLength - STDERR_LOG_BYTES) : stderr,
    };
    if (error) record.error = error;
    if (req.trigger) record.trigger = { kind: req.trigger.kind, name: req.trigger.name };
    onLog(record);
  }
}

const NO_BYTES = new Uint8Array(0);

/** The response for a failed invocation: the message as text; a 503 says when to retry. */
function errorResponse(err: WasmletError): InvocationResponse {
  const headers: [string, string][] = [["content-type", "text/plain; charset=utf-8"]];
  if (err.code === "OVERLOADED") headers.push(["retry-after", RETRY_AFTER_S]);
  return { status: err.status, headers, body: Buffer.from(`${err.message}\n`) };
}

export function runLimits(fn: FunctionRecord): RunLimits {
  return {
    timeoutMs: fn.limits.timeoutMs,
    memoryMiB: fn.limits.memoryMiB,
    maxOutputBytes: fn.limits.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
  };
}

function runError(fn: FunctionRecord, r: RunResult): WasmletError {
  const e = r.error as NonNullable<RunResult["error"]>;
  switch (e.kind) {
    case "timeout":
      return new WasmletError(
        "FUNCTION_TIMEOUT",
        `function ${fn.name} timed out after ${fn.limits.timeoutMs} ms`,
      );
    case "exit":
      return new WasmletError("FUNCTION_FAILED", `function ${fn.name} ${e.message}`);
    case "oom":
    case "output":
      return new WasmletError("FUNCTION_FAILED", `function ${fn.name} failed: ${e.message}`);
    case "cancelled":
      return new WasmletError("CANCELLED", `function ${fn.name}: ${e.message}`);
    case "trap":
      return new WasmletError("FUNCTION_FAILED", `function ${fn.name} failed: ${e.message}`);
    default:
      return new WasmletError("INTERNAL", `function ${fn.name}: ${e.message}`);
  }
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
