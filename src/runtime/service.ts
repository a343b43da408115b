import {
  DEFAULT_LIMITS,
  type Digest,
  type ErrorCode,
  type FunctionRecord,
  type FunctionValues,
  INVOCATION_ID_HEADER,
  invocationId,
  type LoadedImage,
  nextInvocation,
  toWasmletError,
  usesValues,
  WasmletError,
} from "../core/index.js";
import { CONTRACTS, EXIT_CODE_HEADER } from "./contracts/index.js";
import { FunctionGate } from "./gate.js";
import { type InvocationStats, metricsTrigger, type Outcome } from "./stats.js";
import type {
  ContractMap,
  Executor,
  InvocationRecord,
  InvocationRequest,
  InvocationResponse,
  RunLimits,
  RunReport,
  RunResult,
  WasiInputs,
} from "./types.js";
import { warmUpFunction } from "./warm-up.js";

/** How each failure counts in the metrics; every other code is an `error`. */
const OUTCOME_OF: Partial<Record<ErrorCode, Outcome>> = {
  FUNCTION_TIMEOUT: "timeout",
  OVERLOADED: "rejected",
  PAYLOAD_TOO_LARGE: "rejected",
  CANCELLED: "cancelled",
};

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
  /** Counts every invocation by function version, trigger and outcome (the metrics); absent = not counted. */
  stats?: InvocationStats;
  /**
   * The secrets and configs of a function that uses any (`usesValues`), read at each invocation so that an update
   * reaches the next one; synchronous when nothing changed. Absent: such functions fail (500) naming the reason.
   */
  values?: (fn: FunctionRecord) => FunctionValues | Promise<FunctionValues>;
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

  /** See Executor.prestartWorkers: a large module is being uploaded to this process. */
  prestartWorkers(): void {
    this.options.executor.prestartWorkers?.();
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
   * Frees the prepared module of `digest` once no function runs it (deleted, or updated to another version):
   * its compiled code, instances and files. Called by the router as it applies such a change.
   */
  release(digest: Digest): void {
    this.entries.delete(digest);
    this.options.executor.release?.(digest);
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
    if (req.invocation === undefined) {
      req.invocation = nextInvocation();
      // A trigger's invocation tells the function its id as an HTTP one does (the router sets the header).
      if (req.trigger) req.headers[INVOCATION_ID_HEADER] = invocationId(req.invocation);
    }
    const deadlineAt = (req.arrivedAt ?? performance.now()) + fn.limits.timeoutMs;
    const gate = this.gateOf(fn);
    let entered = false;
    let result: RunResult | undefined;
    let outcome: Outcome = "success";
    let status = 0;
    try {
      checkBody(fn, req);
      if (!gate.tryEnter(fn.limits.concurrency ?? DEFAULT_LIMITS.concurrency))
        await this.wait(gate, fn, req, deadlineAt);
      entered = true;
      const limits = runLimits(fn);
      const entry = this.entryOf(fn, limits) ?? (await this.prepareToRun(fn));
      const contract = this.contracts[fn.contract];
      const inputs = usesValues(fn)
        ? await this.withValues(contract, req, fn, entry)
        : contract.prepare(req, fn, entry);
      result = await this.options.executor.run(fn.current.digest, inputs, limits, deadlineAt, req.cancel);
      if (result.error) throw runError(fn, result);
      const res = contract.respond(result);
      status = res.status;
      this.log(fn, req, started, res.status, result);
      return res;
    } catch (e) {
      const err = toWasmletError(e);
      outcome = OUTCOME_OF[err.code] ?? "error";
      status = err.status;
      this.log(fn, req, started, err.status, result, err.message);
      return errorResponse(err, result);
    } finally {
      if (entered) gate.leave();
      this.options.stats?.record(
        fn,
        metricsTrigger(req),
        outcome,
        result ? result.durationMs : Date.now() - started,
        status,
      );
    }
  }

  /** Per function: invocations in flight and waiting for a turn in this process now (the gauges). */
  *load(): IterableIterator<{ function: string; inFlight: number; queued: number }> {
    for (const [name, gate] of this.gates)
      yield { function: name, inFlight: gate.inFlight, queued: gate.queued };
  }

  /**
   * Runs one request like invoke() (same turn, deadline and log) but answers with what the program did, as a
   * command line would see it: exit code, stdout and stderr whatever the outcome, and the files it wrote at or
   * under `collect` (an absolute guest path). For `fn test`. Never rejects.
   */
  async run(fn: FunctionRecord, req: InvocationRequest, collect?: string): Promise<RunReport> {
    const started = Date.now();
    req.invocation ??= nextInvocation();
    const deadlineAt = (req.arrivedAt ?? performance.now()) + fn.limits.timeoutMs;
    const gate = this.gateOf(fn);
    let entered = false;
    let result: RunResult | undefined;
    let status = 200;
    let error: string | undefined;
    let outcome: Outcome = "success";
    try {
      checkBody(fn, req);
      if (!gate.tryEnter(fn.limits.concurrency ?? DEFAULT_LIMITS.concurrency))
        await this.wait(gate, fn, req, deadlineAt);
      entered = true;
      const limits = runLimits(fn);
      const entry = this.entryOf(fn, limits) ?? (await this.prepareToRun(fn));
      const contract = this.contracts[fn.contract];
      const inputs = usesValues(fn)
        ? await this.withValues(contract, req, fn, entry)
        : contract.prepare(req, fn, entry);
      if (collect !== undefined) inputs.collect = collect;
      result = await this.options.executor.run(fn.current.digest, inputs, limits, deadlineAt, req.cancel);
      if (result.error) throw runError(fn, result);
      status = contract.respond(result).status;
    } catch (e) {
      const err = toWasmletError(e);
      status = err.status;
      error = err.message;
      outcome = OUTCOME_OF[err.code] ?? "error";
    } finally {
      if (entered) gate.leave();
    }
    this.log(fn, req, started, status, result, error);
    this.options.stats?.record(
      fn,
      req.source ?? "api",
      outcome,
      result ? result.durationMs : Date.now() - started,
      status,
    );
    const report: RunReport = {
      status,
      exitCode: result?.exitCode ?? 1,
      stdout: result?.stdout ?? NO_BYTES,
      stderr: result?.stderr ?? NO_BYTES,
      files: result?.files ?? new Map(),
    };
    // A plain non-zero exit is the program's answer, told by exitCode; anything else is a failure to report.
    if (error !== undefined && result?.error?.kind !== "exit") report.error = error;
    return report;
  }

  /** The contract's inputs for a function that uses secrets or configs: its env completed, its mounts and config. */
  private async withValues(
    contract: ContractMap[keyof ContractMap],
    req: InvocationRequest,
    fn: FunctionRecord,
    entry: string,
  ): Promise<WasiInputs> {
    const resolve = this.options.values;
    if (resolve === undefined)
      throw new WasmletError(
        "FUNCTION_FAILED",
        `function ${fn.name} uses secrets or configs, which this server cannot read`,
      );
    const got = resolve(fn);
    const values = got instanceof Promise ? await got : got;
    const inputs = contract.prepare(req, values.fn, entry);
    inputs.mounts = values.mounts;
    if (values.config.length > 0) inputs.config = values.config;
    return inputs;
  }

  private gateOf(fn: FunctionRecord): FunctionGate {
    let gate = this.gates.get(fn.name);
    if (!gate) {
      gate = new FunctionGate();
      this.gates.set(fn.name, gate);
    }
    return gate;
  }

  /** Waits in the function's queue for a turn (504 at the deadline, 503 when the queue is full). */
  private wait(
    gate: FunctionGate,
    fn: FunctionRecord,
    req: InvocationRequest,
    deadlineAt: number,
  ): Promise<void> {
    return gate.wait(fn.name, fn.limits.queue ?? DEFAULT_LIMITS.queue, deadlineAt, req.cancel);
  }

  /** The module path of the function's prepared digest, or undefined when it must be prepared first. */
  private entryOf(fn: FunctionRecord, limits: RunLimits): string | undefined {
    const digest = fn.current.digest;
    const entry = this.entries.get(digest);
    return entry !== undefined && this.options.executor.isPrepared(digest, limits) ? entry : undefined;
  }

  /** Prepares the function's digest on its first use; a failure is the image's (502). */
  private async prepareToRun(fn: FunctionRecord): Promise<string> {
    this.options.stats?.coldStart(fn);
    await this.prepare(fn).catch((e) => {
      throw new WasmletError("IMAGE_PULL_FAILED", `cannot load image ${fn.current.image}: ${errMessage(e)}`, {
        cause: e,
      });
    });
    return this.entries.get(fn.current.digest) as string;
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
      invocation: req.invocation as number,
      digest: fn.current.digest,
      startedMs: started,
      status,
      durationMs: result ? Math.round(result.durationMs * 1000) / 1000 : Date.now() - started,
      stderr:
        stderr.byteLength > STDERR_LOG_BYTES ? stderr.subarray(stderr.byteLength - STDERR_LOG_BYTES) : stderr,
    };
    if (error) record.error = error;
    const tp = req.headers.traceparent;
    if (tp !== undefined) record.traceparent = tp;
    if (req.trigger) record.trigger = { kind: req.trigger.kind, name: req.trigger.name };
    onLog(record);
  }
}

const NO_BYTES = new Uint8Array(0);

/**
 * The response for a failed invocation: the message as text; a 503 says when to retry; a program that exited
 * with a status says which (EXIT_CODE_HEADER).
 */
function errorResponse(err: WasmletError, result: RunResult | undefined): InvocationResponse {
  const headers: [string, string][] = [["content-type", "text/plain; charset=utf-8"]];
  if (err.code === "OVERLOADED") headers.push(["retry-after", RETRY_AFTER_S]);
  if (result?.error?.kind === "exit") headers.push([EXIT_CODE_HEADER, String(result.exitCode)]);
  return { status: err.status, headers, body: Buffer.from(`${err.message}\n`) };
}

export function runLimits(fn: FunctionRecord): RunLimits {
  return {
    timeoutMs: fn.limits.timeoutMs,
    memoryMiB: fn.limits.memoryMiB,
    maxOutputBytes: fn.limits.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
  };
}

function checkBody(fn: FunctionRecord, req: InvocationRequest): void {
  if (req.body.byteLength > fn.limits.maxBodyBytes)
    throw new WasmletError(
      "PAYLOAD_TOO_LARGE",
      `request body of ${req.body.byteLength} bytes is over the function's limit of ${fn.limits.maxBodyBytes}`,
    );
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
