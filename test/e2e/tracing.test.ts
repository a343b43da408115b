// Tracing (issue 16): with `serve --otlp URL` every invocation becomes a span exported over OTLP/HTTP, a child of the
// caller's traceparent, tagged with the FaaS conventions. The receiver here is an OTLP/HTTP endpoint that decodes
// what the SDK's exporter sends (JSON); no collector binary is packaged for this machine.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ApiClient } from "../../src/client/index.js";
import { example, type Server, startServer } from "./harness.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

let server: Server;
let receiver: HttpServer;
const spans: OtlpSpan[] = [];
const contentTypes = new Set<string>();

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      contentTypes.add(String(req.headers["content-type"]));
      if (req.url === "/v1/traces" && req.method === "POST") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        for (const rs of body.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const otlp = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startServer(undefined, ["--otlp", otlp]);
  const api = new ApiClient({ server: server.controlUrl });
  await api.createFunction({
    name: "echo",
    code: readFileSync(example("wagi-echo/echo.wasm")).toString("base64"),
    contract: "wagi",
  });
  await api.createHttpTrigger({ name: "echo", function: "echo", url: "/echo" });
});
after(async () => {
  await server?.stop();
  receiver?.close();
});

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

test("an invocation is a SERVER span under the caller's trace, with its invocation id and FaaS attributes", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parent = "00f067aa0ba902b7";
  const r = await fetch(`${server.routerUrl}/echo`, {
    headers: { traceparent: `00-${traceId}-${parent}-01` },
  });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const id = r.headers.get("x-wasmlet-invocation-id");
  const plain = await fetch(`${server.routerUrl}/echo`);
  await plain.arrayBuffer();
  const end = Date.now() + 10_000;
  while (spans.length < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
  assert.equal(contentTypes.has("application/json"), true, [...contentTypes].join());
  const s = spans.find((x) => attr(x, "faas.invocation_id") === id);
  assert.ok(s, `no span with invocation id ${id} among ${spans.length}`);
  assert.equal(s.traceId, traceId);
  assert.equal(s.parentSpanId, parent);
  assert.equal(s.kind, 2, "SpanKind.SERVER");
  assert.equal(s.name, "echo");
  assert.equal(attr(s, "faas.name"), "echo");
  assert.equal(attr(s, "faas.trigger"), "http");
  assert.equal(Number(attr(s, "http.response.status_code")), 200);
  assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
  const other = spans.find(
    (x) => attr(x, "faas.invocation_id") === plain.headers.get("x-wasmlet-invocation-id"),
  );
  assert.ok(
    other && other.traceId !== traceId && !other.parentSpanId,
    "without a traceparent, a trace of its own",
  );
});
