import { decodePath, type FunctionRecord, WasmletError } from "../../core/index.js";
import type {
  Contract,
  EncodedStrings,
  InvocationRequest,
  InvocationResponse,
  WasiInputs,
  WasiOutputs,
} from "../types.js";
import { encodeStrings } from "../wasi/index.js";
import { envList, triggerVars } from "./env.js";
import { EnvWriter } from "./env-writer.js";

/**
 * `wagi`: the WebAssembly Gateway Interface (CGI/1.1 for wasm) as deislabs/wagi and Spin define it.
 * Request metadata in CGI variables, query items as argv (after argv[0] = the path), body on stdin;
 * stdout = CGI header lines, a blank line, the body.
 */
export const WAGI_CONTRACT: Contract = {
  prepare(req: InvocationRequest, fn: FunctionRecord): WasiInputs {
    const args = [req.path, ...fn.args];
    if (req.query) for (const item of req.query.split("&")) if (item) args.push(item);
    return { args, env: cgiEnv(req, fn), stdin: req.body };
  },
  respond: parseCgiOutput,
};

/** Variables whose value never changes: encoded once per function, with the function's own env before them. */
const CONSTANT_VARS = ["AUTH_TYPE=", "GATEWAY_INTERFACE=CGI/1.1", "REMOTE_USER=", "SERVER_SOFTWARE=WAGI/1"];
const fixedEnvs = new WeakMap<Record<string, string>, EncodedStrings>();

function cgiEnv(req: InvocationRequest, fn: FunctionRecord): EncodedStrings {
  let fixed = fixedEnvs.get(fn.env);
  if (!fixed) {
    const encoded = encodeStrings([...envList(fn), ...CONSTANT_VARS], "env");
    // Kept as long as the function: in a buffer of its own, not a slice that pins a slab of node's Buffer pool.
    fixed = { bytes: new Uint8Array(encoded.bytes), offsets: encoded.offsets };
    fixedEnvs.set(fn.env, fixed);
  }
  const { route, headers } = req;
  const pathInfo = decodePath(route.pathInfo);
  const w = new EnvWriter(fixed);
  // Raw request text (URL, headers) is what node decoded as latin1: written back as latin1, it is the bytes
  // the client sent. Decoded paths and configured names are JS text: UTF-8.
  w.add("CONTENT_LENGTH=", String(req.body.byteLength), "latin1");
  w.add("CONTENT_TYPE=", headers["content-type"] ?? "", "latin1");
  w.add("PATH_INFO=", pathInfo, "utf8");
  w.add("PATH_TRANSLATED=", pathInfo, "utf8");
  w.add("QUERY_STRING=", req.query, "latin1");
  w.add("REMOTE_ADDR=", req.remoteAddr, "latin1");
  w.add("REMOTE_HOST=", req.remoteAddr, "latin1");
  w.add("REQUEST_METHOD=", req.method, "latin1");
  w.add("SCRIPT_NAME=", route.scriptName, "latin1");
  w.add("SERVER_NAME=", req.serverName, "latin1");
  w.add("SERVER_PORT=", String(req.serverPort), "latin1");
  w.add("SERVER_PROTOCOL=", req.protocol, "latin1");
  w.add("X_FULL_URL=", `http://${headers.host ?? `${req.serverName}:${req.serverPort}`}${req.url}`, "latin1");
  w.add("X_MATCHED_ROUTE=", route.pattern, "utf8");
  w.add("X_RAW_PATH_INFO=", route.pathInfo, "latin1");
  for (const name in headers) w.add(headerVar(name), headers[name], "latin1");
  for (const name in route.params) w.add(`X_PARAM_${name.toUpperCase()}=`, route.params[name], "utf8");
  if (req.trigger) for (const [k, v] of triggerVars(req.trigger)) w.add(`${k}=`, v, "utf8");
  return w.finish();
}

/** `HTTP_<NAME>=` per header name seen: the same few names arrive on every request. Bounded. */
const headerVars = new Map<string, string>();

function headerVar(name: string): string {
  let v = headerVars.get(name);
  if (v === undefined) {
    v = `HTTP_${name.toUpperCase().replaceAll("-", "_")}=`;
    if (headerVars.size < 1000) headerVars.set(name, v);
  }
  return v;
}

const NL = 0x0a;
const CR = 0x0d;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value may hold HTAB, visible ASCII, space and obs-text (RFC 9110 §5.5): what node sends. */
const BAD_VALUE_CHAR_RE = /[^\t\x20-\x7e\x80-\xff]/;
/** Most header lines and bytes of a header block; a client (node's included) refuses much more. */
const MAX_HEADERS = 100;
const MAX_HEADER_BYTES = 64 * 1024;
/** Headers a function may not set: the router owns the framing of the response. */
const HOP_BY_HOP = new Set(["connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"]);

/**
 * Parses CGI output (RFC 3875 §6): header lines ending in LF or CRLF, a blank line, the body. A response must
 * carry Content-Type, Status or Location; anything else is a malformed response (502): a header name or value
 * HTTP cannot carry, a status outside 200-599 (an interim 1xx would leave the client waiting for a final one),
 * a body on 204 or 304, more than MAX_HEADERS lines or MAX_HEADER_BYTES of headers.
 */
export function parseCgiOutput(out: WasiOutputs): InvocationResponse {
  const buf = out.stdout;
  const headers: [string, string][] = [];
  let status = 200;
  let sufficient = false;
  let hasLocation = false;
  let explicitStatus = false;
  let lines = 0;
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf(NL, pos);
    if (nl < 0 || nl > MAX_HEADER_BYTES)
      throw malformed(
        nl < 0
          ? "the header block does not end with a blank line"
          : `the header block is longer than ${MAX_HEADER_BYTES} bytes`,
      );
    const end = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl;
    if (end === pos) {
      pos = nl + 1;
      break;
    }
    const line = Buffer.from(buf.buffer, buf.byteOffset + pos, end - pos).toString("latin1");
    pos = nl + 1;
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformed(`header line "${line.slice(0, 60)}" has no name`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!HEADER_NAME_RE.test(name))
      throw malformed(`${JSON.stringify(name.slice(0, 60))} is not a valid header name`);
    if (BAD_VALUE_CHAR_RE.test(value))
      throw malformed(
        `header ${name} has a control character in its value (${JSON.stringify(value.slice(0, 60))})`,
      );
    if (++lines > MAX_HEADERS) throw malformed(`it has more than ${MAX_HEADERS} header lines`);
    const lower = name.toLowerCase();
    if (lower === "status") {
      const code = Number.parseInt(value, 10);
      if (!/^\d{3}(\s|$)/.test(value) || code < 200 || code > 599)
        throw malformed(`Status ${JSON.stringify(value.slice(0, 60))} is not a final status code (200-599)`);
      status = code;
      explicitStatus = true;
      sufficient = true;
    } else {
      if (lower === "content-type") sufficient = true;
      if (lower === "location") {
        sufficient = true;
        hasLocation = true;
      }
      if (!HOP_BY_HOP.has(lower)) headers.push([lower, value]);
    }
  }
  if (!sufficient) throw malformed("it sets none of Content-Type, Status or Location");
  if (hasLocation && !explicitStatus) status = 302;
  const body = buf.subarray(pos);
  if ((status === 204 || status === 304) && body.byteLength > 0)
    throw malformed(
      `a ${status} response cannot have a body (it wrote ${body.byteLength} bytes after the headers)`,
    );
  return { status, headers, body };
}

function malformed(why: string): WasmletError {
  return new WasmletError("BAD_GATEWAY", `malformed CGI response from the function: ${why}`);
}
