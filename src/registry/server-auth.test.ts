import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { type RunningRegistry, startRegistry } from "./test-support.js";

const TOKEN = "s3cret token";
let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ token: TOKEN });
});
after(() => reg.close());

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const get = (path: string, authorization?: string, init: RequestInit = {}) =>
  fetch(`${reg.url}${path}`, { ...init, headers: { ...(authorization ? { authorization } : {}) } });
const errCode = async (res: Response) =>
  ((await res.json()) as { errors: { code: string }[] }).errors[0].code;

/** GET with a Host header of our choosing (fetch does not let a caller set it). */
function getWithHost(path: string, host: string): Promise<{ status: number; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const port = Number(reg.host.split(":")[1]);
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, challenge: res.headers["www-authenticate"] as string }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

test("without the token /v2 answers 401 UNAUTHORIZED with a Bearer challenge whose realm is a URL", async () => {
  const res = await get("/v2/");
  assert.equal(res.status, 401);
  assert.equal(await errCode(res), "UNAUTHORIZED");
  assert.equal(
    res.headers.get("www-authenticate"),
    `Bearer realm="http://${reg.host}/v2/token",service="wasmlet"`,
  );
  const other = await getWithHost("/v2/some/repo/tags/list", "registry.example:5000");
  assert.equal(other.status, 401);
  assert.equal(other.challenge, 'Bearer realm="http://registry.example:5000/v2/token",service="wasmlet"');
  // A Host header that is not a host[:port] never reaches the challenge: the realm names the bound address.
  const odd = await getWithHost("/v2/", 'evil",x="y');
  assert.equal(odd.challenge, `Bearer realm="http://${reg.host}/v2/token",service="wasmlet"`);
});

test("/v2 takes the token as a Bearer token or as the password of Basic credentials, and nothing else", async () => {
  const cases: [string | undefined, number][] = [
    [`Bearer ${TOKEN}`, 200],
    [`bearer ${TOKEN}`, 200],
    [basic("anyone", TOKEN), 200],
    [basic("", TOKEN), 200],
    [undefined, 401],
    ["Bearer wrong", 401],
    [`Bearer ${TOKEN}x`, 401],
    [basic("anyone", "wrong"), 401],
    [basic(TOKEN, ""), 401],
    [`Basic ${Buffer.from(TOKEN).toString("base64")}`, 401],
    [TOKEN, 401],
  ];
  for (const [authorization, status] of cases) {
    const res = await get("/v2/", authorization);
    assert.equal(res.status, status, String(authorization));
    await res.body?.cancel();
  }
  const blob = await get("/v2/some/repo/blobs/uploads/", undefined, { method: "POST" });
  assert.equal(blob.status, 401, "every registry endpoint needs the token, not only the base");
});

test("the token endpoint trades Basic credentials (password = the token) for a bearer token", async () => {
  const res = await get("/v2/token?service=wasmlet&scope=repository:a/b:pull,push", basic("x", TOKEN));
  assert.equal(res.status, 200);
  const body = (await res.json()) as { token: string; access_token: string };
  assert.equal(typeof body.token, "string");
  assert.equal(body.access_token, body.token);
  assert.equal((await get("/v2/", `Bearer ${body.token}`)).status, 200);

  const wrong = await get("/v2/token", basic("x", "wrong"));
  assert.equal(wrong.status, 401);
  assert.equal(await errCode(wrong), "UNAUTHORIZED");
  const none = await get("/v2/token");
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Basic realm=/);
});

test("the token endpoint also answers the OAuth2 POST that containerd tries first", async () => {
  const post = (form: Record<string, string>) =>
    fetch(`${reg.url}/v2/token`, { method: "POST", body: new URLSearchParams(form) });
  const ok = await post({ grant_type: "password", username: "x", password: TOKEN, service: "wasmlet" });
  assert.equal(ok.status, 200);
  const token = ((await ok.json()) as { access_token: string }).access_token;
  assert.equal((await get("/v2/", `Bearer ${token}`)).status, 200);
  const refresh = await post({ grant_type: "refresh_token", refresh_token: TOKEN, service: "wasmlet" });
  assert.equal(refresh.status, 200);
  await refresh.body?.cancel();
  const bad = await post({ grant_type: "password", username: "x", password: "wrong" });
  assert.equal(bad.status, 401);
  await bad.body?.cancel();
});

test("a registry without a token has no token endpoint and lets everyone in", async () => {
  const open = await startRegistry();
  try {
    assert.equal((await fetch(`${open.url}/v2/`)).status, 200);
    assert.equal((await fetch(`${open.url}/v2/token`)).status, 404);
  } finally {
    await open.close();
  }
});
