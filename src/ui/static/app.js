// The Wasmlet dashboard: a page with no framework and no dependency (it must work offline). Live data comes from
// one server-sent event stream (/ui/events); actions go to the control API with the session cookie and the UI
// header (/api/v1).

const app = document.getElementById("app");
const status = document.getElementById("status");
let source;
let last = { functions: [], canaries: [], timers: [], queues: [], invocations: { counts: {}, dead: [] } };
let logs = [];
let filter = "";
let logFilter = "";

const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat())
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
};

const fmt = (n, digits = 1) => (n === undefined || n === null ? "–" : Number(n).toFixed(digits));
const ago = (iso) => {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

async function api(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: { "x-wasmlet-ui": "1", ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { text };
  }
  if (!res.ok) throw new Error(json.error?.message ?? `${res.status} ${text}`);
  return json;
}

function spark(values, label) {
  const w = 300;
  const ht = 60;
  const vs = values.map((v) => (v === null ? 0 : v));
  const max = Math.max(1e-9, ...vs);
  const step = vs.length > 1 ? w / (vs.length - 1) : w;
  const d = vs
    .map((v, i) => `${i ? "L" : "M"}${(i * step).toFixed(1)},${(ht - (v / max) * (ht - 4) - 2).toFixed(1)}`)
    .join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", d || "M0,58");
  svg.append(path);
  return svg;
}

function connect(fn) {
  source?.close();
  logs = [];
  source = new EventSource(fn ? `/ui/events?function=${encodeURIComponent(fn)}` : "/ui/events");
  source.addEventListener("snapshot", (e) => {
    last = JSON.parse(e.data);
    status.textContent = `live · ${new Date(last.time).toLocaleTimeString()}`;
    render();
  });
  source.addEventListener("logs", (e) => {
    logs = [...logs, ...JSON.parse(e.data)].slice(-500);
    render();
  });
  source.addEventListener("problem", (e) => {
    status.textContent = `problem: ${JSON.parse(e.data).message}`;
  });
  source.onerror = () => {
    status.textContent = "reconnecting…";
  };
}

function listPage() {
  const rows = last.functions.filter((f) => f.name.includes(filter));
  const input = h("input", {
    id: "filter",
    type: "search",
    "aria-label": "Filter functions",
    placeholder: "filter by name",
    value: filter,
    oninput: (e) => {
      filter = e.target.value;
      render();
      document.getElementById("filter")?.focus();
    },
  });
  return h(
    "section",
    {},
    h("h1", {}, "Functions"),
    input,
    h(
      "table",
      { "data-testid": "function-list" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "Function",
            "Version",
            "Digest",
            "Routes",
            "Req/s (5 min)",
            "Errors %",
            "p95 ms",
            "Last invoked",
          ].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((f) =>
          h(
            "tr",
            { "data-testid": `function-row-${f.name}` },
            h("td", {}, h("a", { href: `#/fn/${encodeURIComponent(f.name)}` }, f.name)),
            h("td", { class: "num" }, f.version),
            h("td", {}, h("code", { title: f.image }, f.digest.slice(0, 19))),
            h("td", {}, f.routes.join(", ") || "–"),
            h("td", { class: "num", "data-testid": "rate" }, fmt(f.rate, 2)),
            h(
              "td",
              { class: `num${f.errorPct > 0 ? " bad" : ""}`, "data-testid": "errors" },
              fmt(f.errorPct),
            ),
            h("td", { class: "num" }, fmt(f.p95Ms, 2)),
            h("td", {}, ago(f.lastInvoked)),
          ),
        ),
      ),
    ),
  );
}

let invokeResult;

async function invoke(fn, form) {
  const data = new FormData(form);
  const method = data.get("method");
  const path = String(data.get("path") || "/");
  const body = String(data.get("body") || "");
  const t0 = performance.now();
  const res = await fetch(
    `/api/v1/functions/${encodeURIComponent(fn)}/invoke${path.startsWith("/") ? path : `/${path}`}`,
    {
      method,
      headers: { "x-wasmlet-ui": "1" },
      body: method === "GET" || method === "HEAD" ? undefined : body,
    },
  );
  const text = await res.text();
  const id = res.headers.get("x-wasmlet-invocation-id");
  invokeResult = {
    status: res.status,
    id,
    ms: performance.now() - t0,
    headers: [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n"),
    body: text,
    logs: [],
  };
  render();
  // Its log record arrives within the log batch interval: looked up by the invocation's id.
  for (let i = 0; i < 10 && id && invokeResult.logs.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const page = await api(
      "GET",
      `/functions/${encodeURIComponent(fn)}/logs?invocation=${encodeURIComponent(id)}`,
    );
    invokeResult.logs = page.items;
  }
  render();
}

function detailPage(name) {
  const f = last.functions.find((x) => x.name === name);
  if (!f)
    return h("section", {}, h("h1", {}, name), h("p", {}, last.time ? "No such function." : "Loading…"));
  const canary = last.canaries.find((c) => c.name === f.canary);
  const shown = logs
    .filter((l) => !logFilter || JSON.stringify(l).includes(logFilter))
    .slice(-100)
    .reverse();
  return h(
    "section",
    {},
    h("h1", {}, f.name),
    h(
      "p",
      {},
      `version ${f.version} · `,
      h("code", {}, f.digest),
      ` · ${f.contract} · routes: ${f.routes.join(", ") || "none"}`,
    ),
    h(
      "div",
      { class: "graphs" },
      h(
        "figure",
        {},
        spark(f.series.rate, "requests per second"),
        h("figcaption", {}, `Requests/s — now ${fmt(f.series.rate.at(-1), 2)}`),
      ),
      h(
        "figure",
        {},
        spark(f.series.errors, "errors per second"),
        h("figcaption", {}, `Errors/s — ${fmt(f.errorPct)} % over 5 min`),
      ),
      h(
        "figure",
        {},
        spark(f.series.p95, "p95 duration"),
        h("figcaption", {}, `p95 ms — ${fmt(f.p95Ms, 2)} over 5 min`),
      ),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Test invoke"),
      h(
        "form",
        {
          class: "invoke",
          "aria-label": "Test invoke",
          onsubmit: (e) => {
            e.preventDefault();
            invoke(f.name, e.target).catch((err) => {
              invokeResult = { error: err.message };
              render();
            });
          },
        },
        h("label", { for: "method" }, "Method"),
        h(
          "select",
          { id: "method", name: "method" },
          ["GET", "POST", "PUT", "DELETE"].map((m) => h("option", { value: m }, m)),
        ),
        h("label", { for: "path" }, "Path"),
        h("input", { id: "path", name: "path", value: "/" }),
        h("label", { for: "body" }, "Body"),
        h("textarea", { id: "body", name: "body", rows: 3 }),
        h("button", { type: "submit" }, "Invoke"),
      ),
      invokeResult
        ? h(
            "div",
            { "data-testid": "invoke-result" },
            invokeResult.error
              ? h("p", { class: "error", role: "alert" }, invokeResult.error)
              : [
                  h(
                    "p",
                    {},
                    h("strong", { "data-testid": "invoke-status" }, `${invokeResult.status}`),
                    ` in ${fmt(invokeResult.ms)} ms · invocation `,
                    h("code", { "data-testid": "invoke-id" }, invokeResult.id ?? "–"),
                  ),
                  h("pre", { "data-testid": "invoke-headers" }, invokeResult.headers),
                  h("pre", { "data-testid": "invoke-body" }, invokeResult.body),
                  h(
                    "pre",
                    { "data-testid": "invoke-logs" },
                    invokeResult.logs
                      .map(
                        (l) =>
                          `#${l.id} ${l.time} ${l.status} ${l.durationMs} ms ${l.invocationId ?? ""} ${l.error ?? ""}\n${l.stderr}`,
                      )
                      .join("\n") || "(waiting for its log record)",
                  ),
                ],
          )
        : null,
    ),
    h(
      "section",
      {},
      h("h2", {}, "Versions"),
      h(
        "table",
        { "data-testid": "versions" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Version", "Digest", "Image", "Created", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          [...f.versions].reverse().map((v) =>
            h(
              "tr",
              {},
              h("td", { class: "num" }, v.version === f.version ? `${v.version} (serving)` : v.version),
              h("td", {}, h("code", {}, v.digest.slice(0, 19))),
              h("td", {}, v.image),
              h("td", {}, v.createdAt),
              h(
                "td",
                {},
                v.version === f.version
                  ? ""
                  : h(
                      "button",
                      {
                        type: "button",
                        onclick: () =>
                          api("POST", `/functions/${encodeURIComponent(f.name)}/rollback`, {
                            to: v.version,
                          }).then(
                            () => {
                              status.textContent = `rolled back to version ${v.version}`;
                            },
                            (err) => {
                              status.textContent = `rollback failed: ${err.message}`;
                            },
                          ),
                      },
                      `Roll back to v${v.version}`,
                    ),
              ),
            ),
          ),
        ),
      ),
    ),
    canary
      ? h(
          "section",
          { "data-testid": "canary" },
          h(
            "h2",
            {},
            `Canary on route ${canary.name}: ${canary.canary} at ${canary.weight} % (${canary.status})`,
          ),
          h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Time", "From", "To", "Rate", "N", "Reason"].map((c) => h("th", { scope: "col" }, c)),
              ),
            ),
            h(
              "tbody",
              {},
              canary.history.map((e) =>
                h(
                  "tr",
                  {},
                  h("td", {}, e.time),
                  h("td", {}, `${e.from} %`),
                  h("td", {}, `${e.to} %`),
                  h("td", {}, e.rate === undefined ? "" : `${e.rate} %`),
                  h("td", {}, e.n ?? ""),
                  h("td", {}, e.reason),
                ),
              ),
            ),
          ),
        )
      : null,
    h(
      "section",
      {},
      h("h2", {}, "Recent invocations"),
      h("input", {
        id: "log-filter",
        type: "search",
        "aria-label": "Filter log entries",
        placeholder: "filter (status, error, stderr…)",
        value: logFilter,
        oninput: (e) => {
          logFilter = e.target.value;
          render();
          document.getElementById("log-filter")?.focus();
        },
      }),
      h(
        "table",
        { "data-testid": "invocations" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["#", "Time", "Status", "ms", "Error / stderr"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          shown.map((l) =>
            h(
              "tr",
              {},
              h("td", { class: "num" }, l.id),
              h("td", {}, l.time),
              h("td", { class: `num${l.status >= 500 ? " bad" : ""}` }, l.status),
              h("td", { class: "num" }, fmt(l.durationMs, 2)),
              h("td", {}, h("code", {}, [l.error, l.stderr].filter(Boolean).join(" · "))),
            ),
          ),
        ),
      ),
    ),
  );
}

function table(testid, columns, rows) {
  return h(
    "table",
    { "data-testid": testid },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

function triggersPage() {
  const st = (t) => t.status ?? {};
  const counts = last.invocations.counts ?? {};
  const redrive = (body, what) =>
    api("POST", "/invocations/redrive", body).then(
      (r) => {
        status.textContent = `redrove ${r.redriven ?? 0} ${what}`;
      },
      (err) => {
        status.textContent = `redrive failed: ${err.message}`;
      },
    );
  return h(
    "section",
    {},
    h("h1", {}, "Triggers"),
    h("h2", {}, "Timers"),
    table(
      "timers",
      ["Timer", "Function", "Schedule", "State", "Next fire", "Last run", "Fired", "Skipped", "Error"],
      last.timers.map((t) =>
        h(
          "tr",
          {},
          h("td", {}, t.name),
          h("td", {}, h("a", { href: `#/fn/${encodeURIComponent(t.function)}` }, t.function)),
          h("td", {}, h("code", {}, t.cron)),
          h("td", { class: st(t).state === "error" ? "bad" : "" }, st(t).state ?? "–"),
          h("td", {}, st(t).nextFire ?? "–"),
          h("td", {}, st(t).last ? `${st(t).last.startedAt} → ${st(t).last.status ?? "…"}` : "never"),
          h("td", { class: "num" }, st(t).fired ?? 0),
          h("td", { class: "num" }, st(t).skipped ?? 0),
          h("td", {}, st(t).lastError ?? ""),
        ),
      ),
    ),
    h("h2", {}, "Queue triggers"),
    table(
      "queues",
      ["Trigger", "Function", "Topic", "State", "Stream", "Handled", "Failed", "Error"],
      last.queues.map((t) =>
        h(
          "tr",
          {},
          h("td", {}, t.name),
          h("td", {}, h("a", { href: `#/fn/${encodeURIComponent(t.function)}` }, t.function)),
          h("td", {}, `${t.mqtype}: ${t.topic}${t.respTopic ? ` → ${t.respTopic}` : ""}`),
          h("td", { class: st(t).state === "error" ? "bad" : "" }, st(t).state ?? "–"),
          h("td", {}, st(t).stream ? `${st(t).stream}${st(t).streamCreated ? " (created)" : ""}` : "–"),
          h("td", { class: "num" }, st(t).fired ?? 0),
          h("td", { class: "num" }, st(t).failed ?? 0),
          h("td", {}, st(t).lastError ?? ""),
        ),
      ),
    ),
    h("h2", {}, "Asynchronous invocations"),
    h(
      "p",
      { "data-testid": "invocation-counts" },
      ["pending", "running", "succeeded", "dead"].map((k) => `${k}: ${counts[k] ?? 0}`).join(" · "),
    ),
    h("h3", {}, "Dead letters"),
    table(
      "dead-letters",
      ["Invocation", "Function", "Route", "Attempts", "Last error", "Updated", ""],
      last.invocations.dead.map((i) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, i.id)),
          h("td", {}, i.function),
          h("td", {}, i.route ?? "–"),
          h("td", { class: "num" }, i.attempts),
          h("td", {}, i.lastError ?? ""),
          h("td", {}, i.updatedAt),
          h(
            "td",
            {},
            h(
              "button",
              { type: "button", onclick: () => redrive({ id: i.id }, "invocation") },
              `Redrive ${i.id}`,
            ),
          ),
        ),
      ),
    ),
    [...new Set(last.invocations.dead.map((i) => i.function))].map((fn) =>
      h(
        "button",
        { type: "button", onclick: () => redrive({ function: fn }, `dead invocations of ${fn}`) },
        `Redrive all of ${fn}`,
      ),
    ),
  );
}

function route() {
  if (location.hash === "#/triggers") return { page: "triggers" };
  const m = /^#\/fn\/(.+)$/.exec(location.hash);
  return m ? { page: "fn", name: decodeURIComponent(m[1]) } : { page: "list" };
}

function render() {
  const r = route();
  app.replaceChildren(
    r.page === "fn" ? detailPage(r.name) : r.page === "triggers" ? triggersPage() : listPage(),
  );
}

window.addEventListener("hashchange", () => {
  invokeResult = undefined;
  const r = route();
  connect(r.page === "fn" ? r.name : undefined);
  render();
});
connect(route().page === "fn" ? route().name : undefined);
render();
