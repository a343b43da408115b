import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { type Digest, isWasmletError, sha256Digest } from "../core/index.js";
import { RegistryClient } from "./client.js";
import { buildImage, type ImageBundle } from "./image-build.js";
import { MEDIA_TYPES } from "./media-types.js";
import { type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

let reg: RunningRegistry;
const client = new RegistryClient();
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

type Entry = {
  name: string;
  data?: string | Uint8Array;
  type?: "file" | "directory" | "symlink";
  linkname?: string;
};

async function tarOf(entries: Entry[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    if (e.type === "directory" || e.type === "symlink")
      pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else
      pack.entry(
        { name: e.name },
        Buffer.from(typeof e.data === "string" ? enc(e.data) : (e.data ?? new Uint8Array())),
      );
  }
  pack.finalize();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

/** A hand-made image: the layers as given, a config as given; manifest of the given media type. */
function bundleOf(
  config: object,
  layers: { mediaType: string; bytes: Uint8Array }[],
  opts: { mediaType?: string; configType?: string } = {},
): ImageBundle {
  const blobs = new Map<Digest, Uint8Array>();
  const desc = (mediaType: string, bytes: Uint8Array) => {
    const digest = sha256Digest(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const mediaType = opts.mediaType ?? MEDIA_TYPES.manifest;
  const manifest = enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: desc(opts.configType ?? MEDIA_TYPES.config, enc(JSON.stringify(config))),
      layers: layers.map((l) => desc(l.mediaType, l.bytes)),
    }),
  );
  return { manifest, manifestDigest: sha256Digest(manifest), mediaType, blobs };
}

test("push then pull round trip: tag resolves to the digest, files and entry come back", async () => {
  const wasm = tinyWasm("round trip");
  const bundle = await buildImage({
    files: new Map([
      ["/hello.wasm", wasm],
      ["/etc/motd", enc("welcome")],
    ]),
    entry: "/hello.wasm",
    args: ["20000"],
  });
  const ref = `${reg.host}/functions/hello:v1`;
  const digest = await client.push(ref, bundle);
  assert.equal(digest, bundle.manifestDigest);
  assert.equal(await client.resolve(ref), digest);
  const img = await client.pull(ref);
  assert.equal(img.digest, digest);
  assert.equal(img.entry, "/hello.wasm");
  assert.deepEqual(img.module, wasm);
  assert.deepEqual([...img.files.keys()].sort(), ["/etc/motd", "/hello.wasm"]);
  assert.equal(text(img.files.get("/etc/motd")), "welcome");
  const byDigest = await client.pull(`${reg.host}/functions/hello@${digest}`);
  assert.equal(byDigest.digest, digest);
  // A second push finds every blob already there (HEAD first) and still answers the same digest.
  assert.equal(await client.push(`${reg.host}/functions/hello:v2`, bundle), digest);
});

test("wasm-artifact and Spin content layers pull as /module.wasm", async () => {
  const wasm = tinyWasm("artifact");
  const artifact = await buildImage({
    files: new Map([["/x.wasm", wasm]]),
    entry: "/x.wasm",
    format: "wasm-artifact",
  });
  await client.push(`${reg.host}/art:1`, artifact);
  const img = await client.pull(`${reg.host}/art:1`);
  assert.equal(img.entry, "/module.wasm");
  assert.deepEqual(img.module, wasm);
  assert.deepEqual([...img.files.keys()], ["/module.wasm"]);

  const spin = bundleOf({}, [{ mediaType: MEDIA_TYPES.wasmContentLayer, bytes: wasm }], {
    configType: "application/vnd.fermyon.spin.application.v1+config",
  });
  await client.push(`${reg.host}/spin:1`, spin);
  assert.deepEqual((await client.pull(`${reg.host}/spin:1`)).module, wasm);
});

test("pull follows an index to the wasm/wasip1 entry; resolve answers that entry's digest", async () => {
  const wasm = tinyWasm("indexed");
  const image = await buildImage({ files: new Map([["/app.wasm", wasm]]), entry: "/app.wasm" });
  const linux = bundleOf({ architecture: "amd64", os: "linux" }, [
    { mediaType: MEDIA_TYPES.layerTar, bytes: await tarOf([{ name: "bin/sh", data: "#!" }]) },
  ]);
  await client.push(`${reg.host}/multi@${image.manifestDigest}`, image);
  await client.push(`${reg.host}/multi@${linux.manifestDigest}`, linux);
  const entry = (b: ImageBundle, architecture: string, os: string) => ({
    mediaType: MEDIA_TYPES.manifest,
    digest: b.manifestDigest,
    size: b.manifest.length,
    platform: { architecture, os },
  });
  const index = enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [entry(linux, "amd64", "linux"), entry(image, "wasm", "wasip1")],
    }),
  );
  const res = await fetch(`${reg.url}/v2/multi/manifests/latest`, {
    method: "PUT",
    body: index,
    headers: { "content-type": MEDIA_TYPES.index },
  });
  assert.equal(res.status, 201);
  assert.equal(await client.resolve(`${reg.host}/multi:latest`), image.manifestDigest);
  const img = await client.pull(`${reg.host}/multi`);
  assert.equal(img.digest, image.manifestDigest);
  assert.deepEqual(img.module, wasm);
});

test("layers are applied in order, honouring whiteouts and opaque directories; docker schema2 accepted", async () => {
  const wasm = tinyWasm("layers");
  const lower = await tarOf([
    { name: "app/", type: "directory" },
    { name: "app/main.wasm", data: tinyWasm("old") },
    { name: "app/gone.txt", data: "gone" },
    { name: "data/", type: "directory" },
    { name: "data/a", data: "a" },
    { name: "data/b", data: "b" },
    { name: "keep.txt", data: "v1" },
  ]);
  const upper = await tarOf([
    { name: "app/main.wasm", data: wasm },
    { name: "app/.wh.gone.txt" },
    { name: "data/c", data: "c" },
    { name: "data/.wh..wh..opq" },
    { name: "keep.txt", data: "v2" },
    { name: "link.wasm", type: "symlink", linkname: "app/main.wasm" },
  ]);
  const config = {
    architecture: "wasm",
    os: "wasip1",
    config: { Entrypoint: ["main.wasm"], WorkingDir: "/app" },
    rootfs: { type: "layers", diff_ids: [sha256Digest(lower), sha256Digest(upper)] },
  };
  const bundle = bundleOf(
    config,
    [
      { mediaType: MEDIA_TYPES.dockerLayerTarGzip, bytes: new Uint8Array(gzipSync(lower)) },
      { mediaType: MEDIA_TYPES.dockerLayerTarGzip, bytes: new Uint8Array(gzipSync(upper)) },
    ],
    { mediaType: MEDIA_TYPES.dockerManifest, configType: MEDIA_TYPES.dockerConfig },
  );
  await client.push(`${reg.host}/layered:1`, bundle);
  const img = await client.pull(`${reg.host}/layered:1`);
  assert.equal(img.entry, "/app/main.wasm");
  assert.deepEqual(img.module, wasm);
  assert.deepEqual([...img.files.keys()].sort(), ["/app/main.wasm", "/data/c", "/keep.txt"]);
  assert.equal(text(img.files.get("/keep.txt")), "v2");
  // A symlink stays a symlink (the WASI host follows it), no longer a copy of its target.
  assert.deepEqual([...(img.symlinks ?? [])], [["/link.wasm", "app/main.wasm"]]);
  assert.deepEqual(img.dirs, ["/app", "/data"]);
});

test("pull keeps a layer's directories, symlinks (absolute ones made relative) and hard links, and the preopens label", async () => {
  const wasm = tinyWasm("links");
  const layer = await tarOf([
    { name: "main.wasm", data: wasm },
    { name: "empty/", type: "directory" },
    { name: "etc/conf", data: "c" },
    { name: "etc/abs", type: "symlink", linkname: "/etc/conf" },
    { name: "run.wasm", type: "symlink", linkname: "main.wasm" },
  ]);
  // tar-stream writes a hard link entry with type "link".
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  pack.entry({ name: "etc/hard", type: "link", linkname: "etc/conf" });
  pack.finalize();
  await done;
  const upper = new Uint8Array(Buffer.concat(chunks));
  const config = {
    architecture: "wasm",
    os: "wasip1",
    config: { Entrypoint: ["/run.wasm"], Labels: { "dev.wasmlet.wasi.preopens": '["empty","/etc"]' } },
    rootfs: { type: "layers", diff_ids: [sha256Digest(layer), sha256Digest(upper)] },
  };
  const bundle = bundleOf(config, [
    { mediaType: MEDIA_TYPES.layerTar, bytes: layer },
    { mediaType: MEDIA_TYPES.layerTar, bytes: upper },
  ]);
  await client.push(`${reg.host}/links:1`, bundle);
  const img = await client.pull(`${reg.host}/links:1`);
  assert.equal(img.entry, "/run.wasm");
  assert.deepEqual(img.module, wasm, "the entrypoint symlink is followed");
  assert.deepEqual([...(img.symlinks ?? [])].sort(), [
    ["/etc/abs", "conf"],
    ["/run.wasm", "main.wasm"],
  ]);
  assert.equal(
    img.files.get("/etc/hard"),
    img.files.get("/etc/conf"),
    "a hard link shares its target's bytes",
  );
  assert.deepEqual(img.dirs, ["/empty"], "directories with an entry of their own (the others are implied)");
  assert.deepEqual(img.preopens, ["empty", "/etc"]);
});

test("pull refuses images with no wasm module and layers that do not match diff_ids", async () => {
  const cases: [string, ImageBundle, RegExp][] = [
    [
      "entrypoint not wasm",
      bundleOf({ config: { Entrypoint: ["/bin/sh"] } }, [
        { mediaType: MEDIA_TYPES.layerTar, bytes: await tarOf([{ name: "bin/sh", data: "#!/bin/sh" }]) },
      ]),
      /entrypoint \/bin\/sh is not a WebAssembly module/,
    ],
    [
      "entrypoint missing",
      bundleOf({ config: { Entrypoint: ["/nope.wasm"] } }, [
        { mediaType: MEDIA_TYPES.layerTar, bytes: await tarOf([{ name: "x.txt", data: "x" }]) },
      ]),
      /entrypoint \/nope.wasm is not a file/,
    ],
    [
      "no entrypoint, no module",
      bundleOf({}, [{ mediaType: MEDIA_TYPES.layerTar, bytes: await tarOf([{ name: "x.txt", data: "x" }]) }]),
      /no single wasm module/,
    ],
    [
      "diff_id mismatch",
      bundleOf({ config: { Entrypoint: ["/a.wasm"] }, rootfs: { diff_ids: [sha256Digest("not it")] } }, [
        { mediaType: MEDIA_TYPES.layerTar, bytes: await tarOf([{ name: "a.wasm", data: tinyWasm() }]) },
      ]),
      /diff_ids/,
    ],
  ];
  for (const [name, bundle, msg] of cases) {
    await client.push(`${reg.host}/refused:t`, bundle);
    await assert.rejects(
      client.pull(`${reg.host}/refused:t`),
      (e) => isWasmletError(e, "IMAGE_PULL_FAILED") && msg.test(e.message) && e.message.includes("refused:t"),
      name,
    );
  }
});

test("registry failures become IMAGE_PULL_FAILED (pull) or UNAVAILABLE (push), naming reference and status", async () => {
  await assert.rejects(
    client.pull(`${reg.host}/functions/hello:missing`),
    (e) =>
      isWasmletError(e, "IMAGE_PULL_FAILED") &&
      e.message.includes(`${reg.host}/functions/hello:missing`) &&
      /HTTP 404 MANIFEST_UNKNOWN/.test(e.message),
  );
  await assert.rejects(
    client.resolve(`${reg.host}/nobody/here:v1`),
    (e) => isWasmletError(e, "IMAGE_PULL_FAILED") && /404 NAME_UNKNOWN/.test(e.message),
  );
  const down = await startRegistry();
  await down.close();
  const bundle = await buildImage({ files: new Map([["/a.wasm", tinyWasm()]]), entry: "/a.wasm" });
  await assert.rejects(
    client.push(`${down.host}/x:1`, bundle),
    (e) => isWasmletError(e, "UNAVAILABLE") && e.message.includes(`${down.host}/x:1`),
  );
  await assert.rejects(client.pull(`${down.host}/x:1`), (e) => isWasmletError(e, "IMAGE_PULL_FAILED"));
});

test("Bearer challenge: the client gets a token from the realm with basic credentials and retries", async () => {
  const issued = new Set<string>();
  const seenScopes: string[] = [];
  const secured = await startRegistry({}, (req, res, next) => {
    if (req.url?.startsWith("/token")) {
      const u = new URL(req.url, "http://x");
      seenScopes.push(u.searchParams.get("scope") ?? "");
      if (req.headers.authorization !== `Basic ${Buffer.from("alice:s3cret").toString("base64")}`) {
        res.writeHead(401);
        res.end();
        return;
      }
      const token = `tok-${issued.size}`;
      issued.add(token);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token }));
      return;
    }
    const auth = req.headers.authorization ?? "";
    if (!auth.startsWith("Bearer ") || !issued.has(auth.slice(7))) {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://${req.headers.host}/token",service="test-registry"`,
        "content-type": "application/json",
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    next();
  });
  try {
    const bundle = await buildImage({ files: new Map([["/b.wasm", tinyWasm("bearer")]]), entry: "/b.wasm" });
    const anonymous = new RegistryClient();
    await assert.rejects(
      anonymous.push(`${secured.host}/sec/fn:1`, bundle),
      (e) => isWasmletError(e, "UNAVAILABLE") && /401/.test(e.message),
    );
    const authed = new RegistryClient({
      auth: (r) => (r === secured.host ? { username: "alice", password: "s3cret" } : undefined),
    });
    await authed.push(`${secured.host}/sec/fn:1`, bundle);
    assert.deepEqual((await authed.pull(`${secured.host}/sec/fn:1`)).module, tinyWasm("bearer"));
    assert.ok(seenScopes.includes("repository:sec/fn:pull,push"));
    assert.ok(seenScopes.includes("repository:sec/fn:pull"));
    const wrong = new RegistryClient({ auth: () => ({ username: "alice", password: "nope" }) });
    await assert.rejects(
      wrong.pull(`${secured.host}/sec/fn:1`),
      (e) => isWasmletError(e, "IMAGE_PULL_FAILED") && /token service/.test(e.message),
    );
  } finally {
    await secured.close();
  }
});

test("a layer that ends right after its last file's data (umoci 0.4) pulls; one cut inside a file does not", async () => {
  const wasm = tinyWasm("umoci-cut");
  const full = await tarOf([
    { name: "app.wasm", data: wasm },
    { name: "data/greeting.txt", data: "hi from umoci" },
  ]);
  // Offset of the second entry's data: one header, the module padded to a block, the second header.
  const dataAt = 512 + Math.ceil(wasm.length / 512) * 512 + 512;
  for (const [cut, ok] of [
    [dataAt + "hi from umoci".length, true],
    [dataAt + 5, false],
  ] as const) {
    const bundle = bundleOf({ architecture: "wasm", os: "wasip1", config: { Entrypoint: ["/app.wasm"] } }, [
      { mediaType: MEDIA_TYPES.layerTar, bytes: full.slice(0, cut) },
    ]);
    await client.push(`${reg.host}/cut:${cut}`, bundle);
    if (ok) {
      const img = await client.pull(`${reg.host}/cut:${cut}`);
      assert.equal(text(img.files.get("/data/greeting.txt")), "hi from umoci");
      assert.deepEqual(img.module, wasm);
    } else await assert.rejects(client.pull(`${reg.host}/cut:${cut}`), /not a valid tar archive/);
  }
});
