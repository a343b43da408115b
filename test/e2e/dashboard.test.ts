// The dashboard (/ui) in a real browser: Debian's chromium driven by playwright-core, data seeded through the API.
// Fails on any console error, page error, or request to a host other than the server's loopback address.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { ApiClient } from "../../src/client/index.js";
import { example, fixture, type Server, startServer } from "./harness.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM)
  ? false
  : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`;
const TOKEN = "ui-test-token";
/** Where screenshots of each page go, when set (for the record of what the pages look like). */
const SHOTS = process.env.WASMLET_UI_SCREENSHOTS;

let server: Server;
let api: ApiClient;
let browser: Browser;
let page: Page;
const problems: string[] = [];

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-ui-"));
  writeFileSync(join(dir, "token"), TOKEN);
  server = await startServer(undefined, ["--token-file", join(dir, "token")]);
  api = new ApiClient({ server: server.controlUrl, token: TOKEN });
  const code = (p: string) => readFileSync(p).toString("base64");
  await api.createFunction({
    name: "hello",
    code: code(example("wagi-echo/echo.wasm")),
    contract: "wagi",
    env: { GREETING: "v1" },
  });
  await api.updateFunction("hello", { env: { GREETING: "v2" }, code: code(example("wagi-echo/echo.wasm")) });
  await api.createFunction({ name: "broken", code: code(fixture("fail.wasm")), retry: { retries: 0 } });
  await api.createHttpTrigger({ name: "hello", function: "hello", url: "/hello" });
  await api.createHttpTrigger({ name: "broken", function: "broken", url: "/broken" });
  for (let i = 0; i < 30; i++) await fetch(`${server.routerUrl}/hello`).then((r) => r.arrayBuffer());
  for (let i = 0; i < 10; i++) await fetch(`${server.routerUrl}/broken`).then((r) => r.arrayBuffer());
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage();
  const origin = new URL(server.controlUrl).host;
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (new URL(r.url()).host !== origin) problems.push(`request to another host: ${r.url()}`);
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = async (name: string) => {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
};

test("the dashboard needs the token: the login page signs in with it, a wrong one is refused", {
  skip,
}, async () => {
  await page.goto(`${server.controlUrl}/ui/`);
  assert.match(page.url(), /\/ui\/login$/);
  await page.getByLabel("Control token").fill("wrong");
  // The failed sign-in answers 401: the browser reports that status as a console error, which is expected. It can
  // reach this process after the alert shows, so it is waited for before the problems so far are dropped.
  const refused = page.waitForEvent("console", (m) => m.type() === "error" && /\b401\b/.test(m.text()));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  assert.match((await page.getByRole("alert").textContent()) ?? "", /not the control token/);
  await refused;
  problems.length = 0;
  await page.getByLabel("Control token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("function-list").waitFor();
  assert.match(page.url(), /\/ui\/$/);
  assert.equal((await fetch(`${server.controlUrl}/ui/events`)).status, 401, "the stream needs the token too");
});

test("the function list shows each function's version, routes, rate and errors, live, and filters by name", {
  skip,
}, async () => {
  const hello = page.getByTestId("function-row-hello");
  const broken = page.getByTestId("function-row-broken");
  await hello.waitFor();
  // The rate comes from the samples taken every 2 s: wait for one that saw the traffic.
  await page.waitForFunction(
    () =>
      Number(document.querySelector('[data-testid="function-row-hello"] [data-testid="rate"]')?.textContent) >
      0,
    undefined,
    { timeout: 10_000 },
  );
  // Cell by cell, as a reader sees the row: name, version, digest, routes, ...
  const cells = await hello.locator("td").allTextContents();
  assert.equal(cells[0], "hello");
  assert.equal(cells[1], "2");
  assert.match(cells[2], /^sha256:/);
  assert.equal(cells[3], "hello /hello");
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="function-row-broken"] [data-testid="errors"]')?.textContent ===
      "100.0",
    undefined,
    { timeout: 10_000 },
  );
  assert.match((await page.getByTestId("status").textContent()) ?? "", /^live/);
  await shot("functions");
  await page.getByRole("searchbox", { name: "Filter functions" }).fill("bro");
  assert.equal(await hello.count(), 0);
  assert.equal(await broken.count(), 1);
  await page.getByRole("searchbox", { name: "Filter functions" }).fill("");
});

test("the function page: graphs, recent invocations, a test invoke with its answer and log, rollback in one click", {
  skip,
}, async () => {
  await page.getByRole("link", { name: "hello" }).click();
  await page.getByRole("heading", { name: "hello" }).waitFor();
  for (const graph of ["requests per second", "errors per second", "p95 duration"])
    assert.equal(await page.getByRole("img", { name: graph }).count(), 1);
  // The log tail arrives over the stream: the 30 calls made before are there.
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="invocations"] tbody tr').length >= 30,
  );

  await page.getByLabel("Method").selectOption("POST");
  await page.getByLabel("Path").fill("/from-ui?x=1");
  await page.getByLabel("Body").fill("sent by the test");
  await page.getByRole("button", { name: "Invoke" }).click();
  await page.getByTestId("invoke-status").waitFor();
  assert.equal((await page.getByTestId("invoke-status").textContent()) ?? "", "200");
  const body = (await page.getByTestId("invoke-body").textContent()) ?? "";
  assert.match(body, /^v2 from wasmlet/);
  assert.match(body, /path: \/from-ui/);
  assert.match(body, /body: sent by the test/);
  assert.match((await page.getByTestId("invoke-headers").textContent()) ?? "", /content-type: text\/plain/);
  // Its log record, found by the invocation id its answer carried.
  const invocation = (await page.getByTestId("invoke-id").textContent()) ?? "";
  assert.match(invocation, /^[0-9a-f]{10}-[0-9a-z]+$/);
  await page.waitForFunction((id) => {
    const text = document.querySelector('[data-testid="invoke-logs"]')?.textContent ?? "";
    return / 200 /.test(text) && text.includes(id);
  }, invocation);
  await shot("function");

  await page.getByRole("button", { name: "Roll back to v1" }).click();
  const end = Date.now() + 5000;
  while ((await api.getFunction("hello")).current.version !== 1 && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  const f = await api.getFunction("hello");
  assert.equal(f.current.version, 1);
  assert.equal(f.current.digest, f.versions[0].digest);
  await page.waitForFunction(() =>
    /1 \(serving\)/.test(document.querySelector('[data-testid="versions"]')?.textContent ?? ""),
  );
});

test("the triggers page: timers with their next fire, async counts, dead letters redriven in one click", {
  skip,
}, async () => {
  await api.createTimeTrigger({ name: "tick", function: "hello", cron: "@every 1h" });
  // An asynchronous call of a function that fails, without retries: a dead letter.
  const r = await fetch(`${server.routerUrl}/broken`, { headers: { prefer: "respond-async" } });
  assert.equal(r.status, 202);
  const { id } = (await r.json()) as { id: string };
  await page.getByRole("link", { name: "Triggers" }).click();
  await page.getByTestId("timers").waitFor();
  await page.waitForFunction(() =>
    /tick.*hello.*@every 1h.*active/s.test(
      document.querySelector('[data-testid="timers"]')?.textContent ?? "",
    ),
  );
  await page.waitForFunction(
    (dead) => (document.querySelector('[data-testid="dead-letters"]')?.textContent ?? "").includes(dead),
    id,
    { timeout: 15_000 },
  );
  assert.match((await page.getByTestId("invocation-counts").textContent()) ?? "", /dead: 1/);
  await shot("triggers");
  await page.getByRole("button", { name: `Redrive ${id}` }).click();
  // Redriven, it runs again and, still failing without retries, comes back dead: its attempts count says so.
  const end = Date.now() + 15_000;
  let attempts = 0;
  while (Date.now() < end) {
    const inv = (await (
      await fetch(`${server.controlUrl}/api/v1/invocations/${id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as { attempts: number; status: string };
    attempts = inv.attempts;
    if (
      inv.status === "dead" &&
      attempts >= 1 &&
      (await page.getByTestId("status").textContent())?.includes("redrove 1")
    )
      break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match((await page.getByTestId("status").textContent()) ?? "", /redrove 1 invocation/);
});

test("no console errors and no request left the server's address", { skip }, () => {
  assert.deepEqual(problems, []);
});
