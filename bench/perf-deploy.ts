// Issue 5's latency measurements over HTTP: deploy -> first 200, the first request of a never-seen digest next to
// warm requests, and the first request of each function after a server restart on the same data dir.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, median, ROOT, startWasmlet, uniqueVariant, type Wasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";

export const ECHO = readFileSync(join(ROOT, "examples/wagi-echo/echo.wasm"));

/** Deploys a WAGI echo function under `name` with a route `/<name>` (prefix); `tag` makes its digest unique. */
export async function deployEcho(w: Pick<Wasmlet, "controlUrl">, name: string, tag?: string): Promise<void> {
  const module = tag ? uniqueVariant(ECHO, tag) : ECHO;
  await api(w.controlUrl, "POST", "/functions", {
    name,
    contract: "wagi",
    code: Buffer.from(module).toString("base64"),
    fileName: "echo.wasm",
    env: { GREETING: "hi" },
  });
  await api(w.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` });
}

/** GETs `url` and throws unless it is a 200 whose body has "from wasmlet" and the path info. */
export async function checkEcho(url: string): Promise<string> {
  const r = await fetch(url);
  const body = await r.text();
  const pathInfo = new URL(url).pathname.replace(/^\/[^/]+/, "");
  if (r.status !== 200 || !body.includes("from wasmlet") || !body.includes(`path: ${pathInfo}`))
    throw new Error(`${url} answered ${r.status}: ${body.slice(0, 300)}`);
  return body;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

export async function benchDeploy(): Promise<void> {
  const w = await startWasmlet();
  const rows: { create: number; route: number; first: number; warm: number }[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const name = `dep-${i}`;
      const code = Buffer.from(uniqueVariant(ECHO, `perf-deploy-${i}-${Date.now()}`)).toString("base64");
      const body = { name, contract: "wagi", code, fileName: "echo.wasm", env: { GREETING: "hi" } };
      const create = await timed(() => api(w.controlUrl, "POST", "/functions", body));
      const route = await timed(() =>
        api(w.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` }),
      );
      // The route table follows the store's change feed: a 404 right after creation is retried, and counted.
      const first = await timed(async () => {
        for (;;) {
          const r = await fetch(`${w.routerUrl}/${name}/first`);
          if (r.status !== 404) return checkEcho(`${w.routerUrl}/${name}/first`).then(() => r.text());
          await r.text();
        }
      });
      const warm: number[] = [];
      for (let k = 0; k < 20; k++) warm.push(await timed(() => checkEcho(`${w.routerUrl}/${name}/warm`)));
      rows.push({ create, route, first, warm: median(warm) });
    }
  } finally {
    await w.stop();
  }
  const m = (k: keyof (typeof rows)[0]) => median(rows.map((r) => r[k]));
  printTable("deploy -> first 200 over HTTP (WAGI echo, new digest each time; median of 5, ms)", [
    {
      "fn create (push + prepare)": fmt(m("create")),
      "route create": fmt(m("route")),
      "first request": fmt(m("first")),
      "deploy -> first 200": fmt(median(rows.map((r) => r.create + r.route + r.first))),
      "target ≤": "50",
    },
  ]);
  printTable("first request of a digest never requested before (HTTP, sequential; median of 5, ms)", [
    {
      "first request (new digest)": fmt(m("first")),
      "warm request (median of 20)": fmt(m("warm")),
      "first / warm": fmt(m("first") / m("warm")),
    },
  ]);
}

/**
 * Deploys `count` functions (distinct digests), then `restarts` times: SIGTERM, start on the same data dir, wait
 * for /healthz, time the first request of one function (a different one each time), then of all the others.
 */
export async function benchRestart(count = 20, restarts = 3): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-bench-restart-"));
  const firsts: number[] = [];
  const each: number[] = [];
  const boot: number[] = [];
  try {
    let w = await startWasmlet(dir);
    try {
      for (let i = 0; i < count; i++) await deployEcho(w, `rs-${i}`, `restart-${i}-${Date.now()}`);
      await checkEcho(`${w.routerUrl}/rs-0/x`);
    } finally {
      await w.stop();
    }
    for (let k = 0; k < restarts; k++) {
      const t0 = performance.now();
      w = await startWasmlet(dir);
      try {
        while ((await fetch(`${w.routerUrl}/healthz`).catch(() => undefined))?.status !== 200);
        boot.push(performance.now() - t0);
        const order = Array.from({ length: count }, (_, i) => (count - 1 - k * 7 - i + count * 10) % count);
        for (const [j, i] of order.entries()) {
          const ms = await timed(() => checkEcho(`${w.routerUrl}/rs-${i}/after-restart`));
          if (j === 0) firsts.push(ms);
          else each.push(ms);
        }
      } finally {
        await w.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `first request after a restart (${count} WAGI functions, distinct digests, ${restarts} restarts; ms)`,
    [
      {
        "start -> /healthz 200 (median)": fmt(median(boot)),
        "very first request (median of restarts)": fmt(median(firsts)),
        "each other fn's first request (median)": fmt(median(each)),
        "max of all": fmt(Math.max(...firsts, ...each)),
        "target ≤": "5",
      },
    ],
  );
}
