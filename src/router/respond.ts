import type { ServerResponse } from "node:http";
import { INVOCATION_ID_HEADER } from "../core/index.js";
import { sendText } from "../http/index.js";
import type { CancelToken, InvocationResponse } from "../runtime/index.js";

/** Bodies up to this size go out as a latin1 string with the headers, in one write(). */
const SMALL_BODY = 16 * 1024;
/** Bodies over this size are counted against the unsent-output budget until the client has taken them. */
const TRACKED_BODY = 64 * 1024;
/** Response framing the router owns: a function may not set it (its value could desync the connection). */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"]);

/**
 * Bytes of response bodies handed to node but not yet taken by their clients, across every request of the
 * process: a slow reader keeps its whole body in memory until it has read it, so without a bound a handful of
 * slow clients of a large response hold gigabytes. Over the bound, new large responses are refused (503).
 */
export class OutputBudget {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  /** Takes `n` bytes if they fit; false (nothing taken) when they do not. */
  take(n: number): boolean {
    if (this.held + n > this.maxBytes) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held -= n;
  }
}

/**
 * Writes a function's response. Never throws and never sends what node or a client would choke on: a status
 * outside 200-599 or a header node refuses becomes a 502 naming the problem (the contracts already refuse
 * such output, with the reason in the function's log). No body is sent with 204 or 304 (nor, by node, to
 * HEAD). A large body is sent only if the unsent-output budget can hold it, else 503 with Retry-After.
 * Returns the status actually sent.
 */
export function sendResponse(
  res: ServerResponse,
  r: InvocationResponse,
  budget?: OutputBudget,
  invocationId?: string,
): number {
  if (res.headersSent || res.destroyed) return 0;
  const idHeader = invocationId === undefined ? {} : { [INVOCATION_ID_HEADER]: invocationId };
  if (!(r.status >= 200 && r.status <= 599 && Number.isInteger(r.status)))
    return sendText(
      res,
      502,
      `the function's response is invalid: status ${r.status} is not 200-599\n`,
      idHeader,
    );
  // Name, value, name, value...: node takes the list as it is (no object to build, repeated names kept).
  const headers: string[] = [];
  for (let i = 0; i < r.headers.length; i++) {
    const [k, v] = r.headers[i];
    const lower = k.toLowerCase();
    if (FRAMING.has(lower) || lower === INVOCATION_ID_HEADER) continue;
    headers.push(k, v);
  }
  if (invocationId !== undefined) headers.push(INVOCATION_ID_HEADER, invocationId);
  const body = r.status === 204 || r.status === 304 ? EMPTY : r.body;
  const size = body.byteLength;
  if (size > TRACKED_BODY && budget) {
    if (!budget.take(size)) {
      res.setHeader("retry-after", "1");
      return sendText(
        res,
        503,
        `the server holds too much unsent output for slow clients (${budget.maxBytes} bytes); retry later\n`,
        idHeader,
      );
    }
    res.once("close", () => budget.give(size));
  }
  if (r.status !== 204 && r.status !== 304) headers.push("content-length", String(size));
  try {
    // Node checks every header name and value here and throws before anything is written; the contracts
    // already refuse what it would (with the reason in the function's log), so this is defence in depth.
    res.writeHead(r.status, headers);
  } catch (e) {
    if (res.headersSent) {
      res.destroy();
      return 0;
    }
    return sendText(
      res,
      502,
      `the function's response is invalid: ${e instanceof Error ? e.message : e}\n`,
      idHeader,
    );
  }
  // A small body sent as a latin1 string goes out with the headers in one write(); a Buffer takes node's
  // writev path, measured ~6 µs more CPU per request on this machine. Large bodies stay Buffers (no copy).
  if (size === 0) res.end();
  else if (size <= SMALL_BODY)
    res.end(Buffer.from(body.buffer, body.byteOffset, size).toString("latin1"), "latin1");
  else res.end(body);
  return r.status;
}

const EMPTY = new Uint8Array(0);

/**
 * The caller of one request, as the runtime sees it: gone once its connection closed before the response was
 * finished. Listens to the connection only when the runtime asks (an invocation that waits), so the fast path
 * adds no listener.
 */
export class ClientConnection implements CancelToken {
  constructor(private readonly res: ServerResponse) {}

  get cancelled(): boolean {
    const s = this.res.socket;
    return (s === null || s.destroyed) && !this.res.writableFinished;
  }

  onCancel(cb: () => void): () => void {
    const res = this.res;
    const onClose = () => {
      if (!res.writableFinished) cb();
    };
    res.once("close", onClose);
    return () => res.off("close", onClose);
  }
}
