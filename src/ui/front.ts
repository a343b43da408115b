import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import {
  type LogEntry,
  routeFunctions,
  type TriggerKind,
  type TriggerStatus,
  WasmletError,
} from "../core/index.js";
import { authorised, readBody, SESSION_COOKIE, secretMatches, sendError, sendText } from "../http/index.js";
import type { Store } from "../store/index.js";
import type { TrafficSampler } from "./sampler.js";

export const UI_PATH = "/ui";

/** The page's files, read once: bundled in the package, nothing from a CDN (works offline). */
const STATIC_DIR = fileURLToPath(new URL("../../../src/ui/static/", import.meta.url));
const ASSETS: Record<string, { file: string; type: string }> = {
  "/ui": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/ui/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};
const cache = new Map<string, string>();
function asset(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(`${STATIC_DIR}${file}`, "utf8");
    cache.set(file, text);
  }
  return text;
}

/** Strict: the page loads only its own script and style and talks only to its own origin. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const LOGIN_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Wasmlet — sign in</title>
<link rel="stylesheet" href="/ui/app.css"></head><body><main class="login"><h1>Wasmlet</h1>
<form method="post" action="/ui/login"><label for="token">Control token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>__ERROR__</main></body></html>`;

export interface UiOptions {
  store: Store;
  sampler: TrafficSampler;
  token?: string;
  /** How often the event stream sends a snapshot, in ms (default 2000). */
  everyMs?: number;
  /** The live state of a timer or queue trigger (next fire, last run, stream, errors), from the serve process. */
  triggerStatus?: (kind: TriggerKind, name: string) => TriggerStatus | undefined;
}

interface FunctionRow {
  name: string;
  version: number;
  digest: string;
  image: string;
  contract: string;
  routes: string[];
  canary?: string;
  versions: { version: number; digest: string; image: string; createdAt: string }[];
}

/** What the event stream's `snapshot` events carry. */
async function snapshot(opts: UiOptions) {
  const [fns, routes, canaries, timers, queues, invocationCounts, dead] = await Promise.all([
    opts.store.list("function"),
    opts.store.list("httptrigger"),
    opts.store.list("canary"),
    opts.store.list("timetrigger"),
    opts.store.list("mqtrigger"),
    opts.store.countInvocations(),
    opts.store.listInvocations({ status: "dead", limit: 50 }),
  ]);
  const live = <T extends { name: string }>(kind: TriggerKind, t: T) => ({
    ...t,
    status: opts.triggerStatus?.(kind, t.name),
  });
  const functions: (FunctionRow & ReturnType<TrafficSampler["summary"]>)[] = fns.map((f) => ({
    name: f.name,
    version: f.current.version,
    digest: f.current.digest,
    image: f.current.image,
    contract: f.contract,
    routes: [
      ...routes.filter((r) => routeFunctions(r).includes(f.name)).map((r) => `${r.name} ${r.path}`),
      ...timers.filter((t) => t.function === f.name).map((t) => `timer ${t.name}`),
      ...queues.filter((t) => t.function === f.name).map((t) => `queue ${t.name}`),
    ],
    canary: canaries.find((c) => c.canary === f.name || c.stable === f.name)?.name,
    versions: f.versions.map((v) => ({
      version: v.version,
      digest: v.digest,
      image: v.image,
      createdAt: v.createdAt,
    })),
    ...opts.sampler.summary(f.name),
  }));
  return {
    time: new Date().toISOString(),
    functions,
    canaries,
    timers: timers.map((t) => live("timer", t)),
    queues: queues.map((t) => live("mqt", t)),
    invocations: {
      counts: invocationCounts,
      // Dead letters: what a user may redrive; requests and results stay out of the stream (bodies can be large).
      dead: dead.map((i) => ({
        id: i.id,
        function: i.function,
        route: i.route,
        attempts: i.attempts,
        lastError: i.lastError,
        updatedAt: i.updatedAt,
      })),
    },
  };
}

/**
 * The dashboard on the control port: `/ui` (the page, its script and style), `/ui/login`, and `/ui/events`, one
 * server-sent event stream per open page — a `snapshot` every interval (functions with their rate, error share,
 * p95 and last invocation over the last minutes; canaries) and, for the function a page shows, its new log
 * entries as `logs` events. With a token, every path but the login page needs it (the login sets it as an
 * HttpOnly, SameSite=Strict cookie; the API accepts that cookie for reads, and for writes with the UI's header).
 */
export function uiFront(opts: UiOptions) {
  const everyMs = opts.everyMs ?? 2000;
  // One snapshot per interval, whatever the number of open pages: each would otherwise list every resource again.
  let shared: { at: number; value: ReturnType<typeof snapshot> } | undefined;
  const current = () => {
    const now = Date.now();
    if (!shared || now - shared.at >= everyMs / 2) shared = { at: now, value: snapshot(opts) };
    return shared.value;
  };
  const login = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(Buffer.from(await readBody(req, 16 * 1024)).toString("utf8"));
    const given = form.get("token") ?? "";
    if (opts.token === undefined || !secretMatches(given, opts.token)) {
      sendText(
        res,
        401,
        LOGIN_PAGE.replace("__ERROR__", '<p class="error" role="alert">That is not the control token.</p>'),
        {
          ...SECURITY_HEADERS,
          "content-type": "text/html; charset=utf-8",
        },
      );
      return;
    }
    res.writeHead(303, {
      location: "/ui/",
      "set-cookie": `${SESSION_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
      "content-length": 0,
    });
    res.end();
  };
  const events = (req: IncomingMessage, res: ServerResponse, fn: string | null) => {
    // Set apart from writeHead so that it stays readable (getHeader): serve's drain ends event streams by it.
    res.setHeader("content-type", "text/event-stream; charset=utf-8");
    res.writeHead(200, { ...SECURITY_HEADERS, connection: "keep-alive" });
    let afterId = 0;
    let first = true;
    let busy = false;
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        send("snapshot", await current());
        if (fn) {
          // The first batch is the function's last 50 records; later ones, what came since.
          const entries: LogEntry[] = first
            ? await opts.store.readLogs(fn, { limit: 50 })
            : await opts.store.readLogs(fn, { afterId, limit: 500 });
          first = false;
          if (entries.length > 0) {
            afterId = entries[entries.length - 1].id;
            send("logs", entries);
          }
        }
      } catch (e) {
        send("problem", { message: e instanceof Error ? e.message : String(e) });
      } finally {
        busy = false;
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), everyMs);
    req.socket.setTimeout(0);
    res.on("close", () => clearInterval(timer));
  };
  return {
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const url = new URL(req.url ?? "/", "http://x");
      const path = url.pathname;
      if (path !== UI_PATH && !path.startsWith(`${UI_PATH}/`)) return false;
      if (path === "/ui/login") {
        if (req.method === "POST") login(req, res).catch((e) => sendError(req, res, e));
        else
          sendText(res, 200, LOGIN_PAGE.replace("__ERROR__", ""), {
            ...SECURITY_HEADERS,
            "content-type": "text/html; charset=utf-8",
          });
        return true;
      }
      if (opts.token !== undefined && !authorised(req, opts.token)) {
        if (path === "/ui" || path === "/ui/") {
          res.writeHead(303, { location: "/ui/login", "content-length": 0 });
          res.end();
        } else sendError(req, res, new WasmletError("UNAUTHORIZED", "authorization: sign in at /ui/login"));
        return true;
      }
      if (path === "/ui/events") {
        events(req, res, url.searchParams.get("function"));
        return true;
      }
      const a = ASSETS[path];
      if (!a || (req.method !== "GET" && req.method !== "HEAD")) {
        sendError(req, res, new WasmletError("NOT_FOUND", `path: no dashboard page at ${path}`));
        return true;
      }
      sendText(res, 200, asset(a.file), { ...SECURITY_HEADERS, "content-type": a.type });
      return true;
    },
  };
}
