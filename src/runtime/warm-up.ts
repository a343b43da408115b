// A built-in WAGI function run once when a server starts, before it reports ready: the request path's
// JavaScript (contract, executor, runner, WASI host) is compiled by V8 on its first call, which made the first
// request after a restart cost ~3 ms more than the first request of any other function (bench: restart).
// The module is assembled here, not shipped as a file: it is a few hundred bytes and never changes.
import { DEFAULT_LIMITS, type FunctionRecord, type LoadedImage, sha256Digest } from "../core/index.js";
import type { InvocationRequest } from "./types.js";

/** What the warm-up function writes before the request body it read (WAGI output: headers, blank line, body). */
const OUTPUT = "content-type: text/plain\n\nok\n";

// Memory layout of the module (one 64 KiB page).
const READ_IOV = 32;
/** Two iovecs: OUTPUT, then the bytes fd_read read (their length is copied from NREAD at run time). */
const WRITE_IOV = 48;
const NREAD = 40;
const NWRITTEN = 8;
const OUTPUT_AT = 1024;
const ENV_POINTERS = 2048;
const ENV_BYTES = 4096;
const READ_BUF = 16384;
const READ_LEN = 4096;

const I32 = 0x7f;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128, for i32.const immediates (non-negative values here). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const name = (s: string) => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const i32 = (n: number) => [0x41, ...sleb(n)];
const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const data = (at: number, bytes: number[]) => [0, ...i32(at), 0x0b, ...uleb(bytes.length), ...bytes];

/**
 * `_start` calls the WASI functions a WAGI handler uses on every request — args and environ sizes, environ_get,
 * fd_read of stdin, fd_write of stdout — trapping if one returns an error, and writes OUTPUT then what it read.
 */
function assemble(): Uint8Array {
  const pair = [0x60, 2, I32, I32, 1, I32];
  const quad = [0x60, 4, I32, I32, I32, I32, 1, I32];
  const imports: [string, number][] = [
    ["args_sizes_get", 0],
    ["environ_sizes_get", 0],
    ["environ_get", 0],
    ["fd_read", 1],
    ["fd_write", 1],
  ];
  // call, then `if (errno != 0) unreachable`
  const call = (index: number, ...args: number[]) => [
    ...args.flatMap(i32),
    0x10,
    index,
    0x04,
    0x40,
    0x00,
    0x0b,
  ];
  const load = [0x28, 2, 0];
  const store = [0x36, 2, 0];
  const body = [
    0, // no locals
    ...call(0, 0, 4),
    ...call(1, 0, 4),
    ...call(2, ENV_POINTERS, ENV_BYTES),
    ...call(3, 0, READ_IOV, 1, NREAD),
    ...i32(WRITE_IOV + 12),
    ...i32(NREAD),
    ...load,
    ...store,
    ...call(4, 1, WRITE_IOV, 2, NWRITTEN),
    0x0b,
  ];
  const out = Buffer.from(OUTPUT);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vec([pair, quad, [0x60, 0, 0]])),
    ...section(2, vec(imports.map(([n, t]) => [...name("wasi_snapshot_preview1"), ...name(n), 0, t]))),
    ...section(3, vec([[2]])),
    ...section(5, vec([[0, 1]])),
    ...section(
      7,
      vec([
        [...name("memory"), 2, 0],
        [...name("_start"), 0, imports.length],
      ]),
    ),
    ...section(10, vec([[...uleb(body.length), ...body]])),
    ...section(
      11,
      vec([
        data(WRITE_IOV, [...le32(OUTPUT_AT), ...le32(out.length), ...le32(READ_BUF), ...le32(0)]),
        data(READ_IOV, [...le32(READ_BUF), ...le32(READ_LEN)]),
        data(OUTPUT_AT, [...out]),
      ]),
    ),
  ]);
}

export interface WarmUp {
  fn: FunctionRecord;
  image: LoadedImage;
  request: InvocationRequest;
  /** The body of a correct answer: "ok", then the request body echoed back. */
  expectedBody: string;
}

/** The warm-up function, its image and a request like a client's (headers, query, a small body). */
export function warmUpFunction(): WarmUp {
  const module = assemble();
  const digest = sha256Digest(module);
  const entry = "/warm-up.wasm";
  const fn: FunctionRecord = {
    name: "wasmlet-warm-up",
    contract: "wagi",
    args: [],
    env: {},
    limits: { ...DEFAULT_LIMITS },
    current: { version: 1, image: `wasmlet.internal/warm-up@${digest}`, digest, createdAt: "" },
    versions: [],
    createdAt: "",
    updatedAt: "",
  };
  const request: InvocationRequest = {
    method: "POST",
    url: "/warm-up/x?y=1",
    path: "/warm-up/x",
    query: "y=1",
    headers: { host: "127.0.0.1", "content-type": "text/plain", "user-agent": "wasmlet" },
    body: Buffer.from("warm-up"),
    remoteAddr: "127.0.0.1",
    remotePort: 1,
    serverName: "127.0.0.1",
    serverPort: 1,
    protocol: "HTTP/1.1",
    route: { pattern: "/warm-up/...", scriptName: "/warm-up", pathInfo: "/x", params: {} },
  };
  return {
    fn,
    image: { digest, entry, module, files: new Map([[entry, module]]) },
    request,
    expectedBody: `ok\n${Buffer.from(request.body).toString("latin1")}`,
  };
}
