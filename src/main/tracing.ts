import {
  context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { TriggerKind } from "../core/index.js";
import type { InvocationRecord } from "../runtime/index.js";

/** The FaaS conventions' trigger names for Wasmlet's trigger kinds (an invocation without one came over HTTP). */
const FAAS_TRIGGER: Record<TriggerKind, string> = { timer: "timer", mqt: "pubsub", async: "other" };

/**
 * Exports one span per invocation over OTLP/HTTP (`serve --otlp URL`) through the OpenTelemetry SDK, named and
 * tagged as the FaaS semantic conventions say (faas.invocation_id, faas.trigger…), a child of the caller's
 * `traceparent` when it sent one. Spans are made from the invocation records after the fact (start and duration
 * are in them), in batches off the request path. Loaded (with the SDK) only by a server started with --otlp
 * (a dynamic import in serve and in each router process).
 */
export class InvocationTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(url: string, serviceName = "wasmlet") {
    const exporter = new OTLPTraceExporter({ url: new URL("/v1/traces", url).href });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": serviceName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 })],
    });
    this.tracer = this.provider.getTracer("wasmlet");
  }

  /** One finished invocation → one span (kind SERVER, from its start for its duration). */
  record(r: InvocationRecord, invocationId: string): void {
    const parent = r.traceparent
      ? this.propagator.extract(ROOT_CONTEXT, { traceparent: r.traceparent }, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      r.function,
      {
        kind: SpanKind.SERVER,
        startTime: r.startedMs,
        attributes: {
          "faas.name": r.function,
          "faas.invocation_id": invocationId,
          "faas.trigger": r.trigger ? FAAS_TRIGGER[r.trigger.kind] : "http",
          "faas.version": r.digest,
          "http.response.status_code": r.status,
        },
      },
      parent ?? context.active(),
    );
    if (r.status >= 500 || r.error !== undefined)
      span.setStatus({ code: SpanStatusCode.ERROR, message: r.error ?? `status ${r.status}` });
    span.end(r.startedMs + r.durationMs);
  }

  async close(): Promise<void> {
    await this.provider.forceFlush();
    await this.provider.shutdown();
  }
}
