// A wasi:http/proxy hello built with componentize-js (scripts/build-components.sh), using the wasi:http
// interfaces directly. GET answers a greeting with the method, path and query it got (and echoes the x-hello
// header); POST echoes the body with status 201; `?fetch=URL` makes an outbound request and answers its status
// and body, or the wasi:http error code; `?spin` never returns (for the timeout tests).
import { handle as send } from "wasi:http/outgoing-handler@0.2.12";
import {
  Fields,
  OutgoingBody,
  OutgoingRequest,
  OutgoingResponse,
  ResponseOutparam,
} from "wasi:http/types@0.2.12";

const enc = new TextEncoder();
const dec = new TextDecoder();

function respond(out, status, headers, text) {
  const res = new OutgoingResponse(Fields.fromList(headers.map(([k, v]) => [k, enc.encode(v)])));
  res.setStatusCode(status);
  const body = res.body();
  ResponseOutparam.set(out, { tag: "ok", val: res });
  const stream = body.write();
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  for (let i = 0; i < bytes.length; i += 4096) stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(body, undefined);
}

function readAll(incomingBody) {
  const stream = incomingBody.stream();
  const parts = [];
  for (;;) {
    try {
      parts.push(stream.blockingRead(65536n));
    } catch (e) {
      if (e.payload?.tag === "closed" || e.tag === "closed") break;
      throw e;
    }
  }
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    all.set(p, n);
    n += p.length;
  }
  return all;
}

function outbound(target) {
  const url = new URL(target);
  const req = new OutgoingRequest(new Fields());
  req.setScheme(url.protocol === "https:" ? { tag: "HTTPS" } : { tag: "HTTP" });
  req.setAuthority(url.host);
  req.setPathWithQuery(url.pathname + url.search);
  const body = req.body();
  OutgoingBody.finish(body, undefined);
  let future;
  try {
    future = send(req, undefined);
  } catch (e) {
    return [502, `outbound refused: ${JSON.stringify(e.payload ?? String(e))}\n`];
  }
  future.subscribe().block();
  const got = future.get();
  if (got.tag === "err" || got.val.tag === "err")
    return [502, `outbound failed: ${JSON.stringify(got.val?.val ?? got.val)}\n`];
  const res = got.val.val;
  return [200, `outbound ${res.status()}: ${dec.decode(readAll(res.consume()))}`];
}

export const incomingHandler = {
  handle(request, out) {
    const pq = request.pathWithQuery() ?? "/";
    const m = request.method();
    const method = m.tag === "other" ? m.val : m.tag.toUpperCase();
    const query = new URLSearchParams(pq.includes("?") ? pq.slice(pq.indexOf("?") + 1) : "");
    if (query.has("spin")) for (;;) {}
    if (query.has("fetch")) {
      const [status, text] = outbound(query.get("fetch"));
      return respond(out, status, [["content-type", "text/plain"]], text);
    }
    if (method === "POST") {
      const body = readAll(request.consume());
      return respond(
        out,
        201,
        [
          ["content-type", "application/octet-stream"],
          ["x-echo", "yes"],
        ],
        body,
      );
    }
    const hello =
      request
        .headers()
        .get("x-hello")
        .map((v) => dec.decode(v))
        .join(",") || "none";
    respond(
      out,
      200,
      [
        ["content-type", "text/plain"],
        ["x-hello", hello],
      ],
      `hello from a component: ${method} ${pq}\n`,
    );
  },
};
