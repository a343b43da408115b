// A built-in WAGI function run once when a server starts, before it reports ready: the request path's
// JavaScript (contract, executor, runner, WASI host) is compiled by V8 on its first call, which made the first
// request after a restart cost ~3 ms more than the first request of any other function (bench: restart).
// The module is assembled here, not shipped as a file: it is a few hundred bytes and never changes.
import { DEFAULT_LIMITS, type FunctionRecord, type LoadedImage, sha256Digest } from "../core/index.js";
import { Writer } from "../wasm/index.js";
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

/**
 * `_start` calls the WASI functions a WAGI handler uses on every request — args and environ sizes, environ_get,
 * fd_read of stdin, fd_write of stdout — trapping if one returns an error, and writes OUTPUT then what it read.
 */
function assemble(): Uint8Array {
  const w = new Writer(512);
  const section = (id: number, count: number, items: () => void) => {
    w.byte(id);
    const mark = w.beginSized();
    w.u32(count);
    items();
    w.endSized(mark);
  };
  const i32 = (n: number) => {
    w.byte(0x41);
    w.s32(n);
  };
  const imports: [string, number][] = [
    ["args_sizes_get", 0],
    ["environ_sizes_get", 0],
    ["environ_get", 0],
    ["fd_read", 1],
    ["fd_write", 1],
  ];
  // call, then `if (errno != 0) unreachable`
  const call = (index: number, ...args: number[]) => {
    for (const a of args) i32(a);
    w.byte(0x10);
    w.u32(index);
    w.bytes(Uint8Array.of(0x04, 0x40, 0x00, 0x0b));
  };
  const data = (at: number, bytes: Uint8Array) => {
    w.byte(0);
    i32(at);
    w.byte(0x0b);
    w.u32(bytes.length);
    w.bytes(bytes);
  };
  const le32 = (...words: number[]) => {
    const b = Buffer.alloc(4 * words.length);
    for (const [i, v] of words.entries()) b.writeUInt32LE(v, 4 * i);
    return b;
  };
  const out = Buffer.from(OUTPUT);

  w.bytes(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
  section(1, 3, () => {
    w.bytes(Uint8Array.of(0x60, 2, I32, I32, 1, I32)); // (i32, i32) -> i32
    w.bytes(Uint8Array.of(0x60, 4, I32, I32, I32, I32, 1, I32)); // (i32, i32, i32, i32) -> i32
    w.bytes(Uint8Array.of(0x60, 0, 0)); // () -> ()
  });
  section(2, imports.length, () => {
    for (const [name, type] of imports) {
      w.name("wasi_snapshot_preview1");
      w.name(name);
      w.byte(0);
      w.u32(type);
    }
  });
  section(3, 1, () => w.u32(2));
  section(5, 1, () => w.bytes(Uint8Array.of(0, 1)));
  section(7, 2, () => {
    w.name("memory");
    w.bytes(Uint8Array.of(2, 0));
    w.name("_start");
    w.byte(0);
    w.u32(imports.length);
  });
  section(10, 1, () => {
    const mark = w.beginSized();
    w.byte(0); // no locals
    call(0, 0, 4);
    call(1, 0, 4);
    call(2, ENV_POINTERS, ENV_BYTES);
    call(3, 0, READ_IOV, 1, NREAD);
    i32(WRITE_IOV + 12);
    i32(NREAD);
    w.bytes(Uint8Array.of(0x28, 2, 0, 0x36, 2, 0)); // i32.load, i32.store
    call(4, 1, WRITE_IOV, 2, NWRITTEN);
    w.byte(0x0b);
    w.endSized(mark);
  });
  section(11, 3, () => {
    data(WRITE_IOV, le32(OUTPUT_AT, out.length, READ_BUF, 0));
    data(READ_IOV, le32(READ_BUF, READ_LEN));
    data(OUTPUT_AT, out);
  });
  return w.finish();
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
