import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { type Digest, isWasmletError, sha256Digest } from "../core/index.js";
import { buildImage, type ImageBundle, LARGE_LAYER_MIN_BYTES } from "./image-build.js";
import { type LayerHasher, setLayerHasher } from "./large-layer.js";
import { MEDIA_TYPES } from "./media-types.js";
import { tinyWasm } from "./test-support.js";

const text = (s: string) => new TextEncoder().encode(s);
const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));

function parts(bundle: ImageBundle) {
  const manifest = json(bundle.manifest);
  const config = json(bundle.blobs.get(manifest.config.digest)!);
  const layer = bundle.blobs.get(manifest.layers[0].digest)!;
  return { manifest, config, layer };
}

async function tarEntries(bytes: Uint8Array) {
  const out: {
    name: string;
    type: string;
    mode: number;
    mtime: number;
    uid: number;
    gid: number;
    data: string;
    linkname?: string;
  }[] = [];
  const ex = tar.extract();
  ex.end(Buffer.from(bytes));
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    const h = e.header;
    out.push({
      name: h.name,
      type: h.type ?? "",
      mode: h.mode ?? -1,
      mtime: h.mtime?.getTime() ?? -1,
      uid: h.uid ?? -1,
      gid: h.gid ?? -1,
      data: Buffer.concat(chunks).toString("latin1"),
      linkname: h.linkname ?? undefined,
    });
  }
  return out;
}

test("same files give the same manifest digest, whatever the insertion order", async () => {
  const wasm = tinyWasm("a");
  const a = await buildImage({
    files: new Map([
      ["/hello.wasm", wasm],
      ["/etc/greeting.txt", text("hi")],
    ]),
    entry: "/hello.wasm",
  });
  const b = await buildImage({
    files: new Map([
      ["/etc/greeting.txt", text("hi")],
      ["/hello.wasm", wasm],
    ]),
    entry: "/hello.wasm",
  });
  assert.equal(a.manifestDigest, b.manifestDigest);
  assert.deepEqual(Buffer.from(a.manifest), Buffer.from(b.manifest));
  const c = await buildImage({ files: new Map([["/hello.wasm", tinyWasm("b")]]), entry: "/hello.wasm" });
  assert.notEqual(a.manifestDigest, c.manifestDigest);
  assert.equal(a.manifestDigest, sha256Digest(a.manifest));
  for (const [d, bytes] of a.blobs) assert.equal(d, sha256Digest(bytes));
});

test("compat-smart image has crun's annotation, a wasm/wasip1 config and correct diff_ids", async () => {
  const bundle = await buildImage({
    files: new Map([
      ["/hello.wasm", tinyWasm()],
      ["/data/sub/x.txt", text("x")],
    ]),
    entry: "/hello.wasm",
    args: ["20000"],
    env: ["GREETING=hi"],
    annotations: { "org.opencontainers.image.title": "hello" },
  });
  const { manifest, config, layer } = parts(bundle);
  assert.equal(bundle.mediaType, MEDIA_TYPES.manifest);
  assert.equal(manifest.schemaVersion, 2);
  assert.equal(manifest.mediaType, MEDIA_TYPES.manifest);
  assert.equal(manifest.annotations["module.wasm.image/variant"], "compat-smart");
  assert.equal(manifest.annotations["org.opencontainers.image.title"], "hello");
  assert.equal(manifest.config.mediaType, MEDIA_TYPES.config);
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0].mediaType, MEDIA_TYPES.layerTarGzip);
  assert.equal(manifest.layers[0].size, layer.length);
  assert.equal(config.architecture, "wasm");
  assert.equal(config.os, "wasip1");
  assert.deepEqual(config.config.Entrypoint, ["/hello.wasm"]);
  assert.deepEqual(config.config.Cmd, ["20000"]);
  assert.deepEqual(config.config.Env, ["GREETING=hi"]);
  const raw = gunzipSync(layer);
  assert.deepEqual(config.rootfs, {
    type: "layers",
    diff_ids: [`sha256:${createHash("sha256").update(raw).digest("hex")}`],
  });

  const entries = await tarEntries(raw);
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.mode.toString(8)]),
    [
      ["data/", "directory", "755"],
      ["data/sub/", "directory", "755"],
      ["data/sub/x.txt", "file", "644"],
      ["hello.wasm", "file", "755"],
    ],
  );
  for (const e of entries) assert.deepEqual([e.mtime, e.uid, e.gid], [0, 0, 0], e.name);
  assert.equal(entries[2].data, "x");
});

test("wasm-artifact image is the raw module with the wasm config media type", async () => {
  const wasm = tinyWasm("artifact");
  const bundle = await buildImage({
    files: new Map([["/m.wasm", wasm]]),
    entry: "/m.wasm",
    format: "wasm-artifact",
  });
  const { manifest, config, layer } = parts(bundle);
  assert.equal(manifest.config.mediaType, MEDIA_TYPES.wasmConfig);
  assert.equal(manifest.layers[0].mediaType, MEDIA_TYPES.wasmLayer);
  assert.deepEqual(Buffer.from(layer), Buffer.from(wasm));
  assert.equal(config.architecture, "wasm");
  assert.deepEqual(config.layerDigests, [sha256Digest(wasm)]);
});

test("buildImage refuses bad input, naming the field", async () => {
  const cases: [string, Parameters<typeof buildImage>[0], string, RegExp][] = [
    [
      "entry missing",
      { files: new Map([["/a.wasm", tinyWasm()]]), entry: "/b.wasm" },
      "INVALID_ARGUMENT",
      /entry/,
    ],
    [
      "entry not wasm",
      { files: new Map([["/a.wasm", text("nope")]]), entry: "/a.wasm" },
      "INVALID_MODULE",
      /entry/,
    ],
    [
      "relative path",
      { files: new Map([["a.wasm", tinyWasm()]]), entry: "a.wasm" },
      "INVALID_ARGUMENT",
      /files/,
    ],
    [
      "traversal",
      { files: new Map([["/x/../a.wasm", tinyWasm()]]), entry: "/x/../a.wasm" },
      "INVALID_ARGUMENT",
      /files/,
    ],
    [
      "artifact with extra files",
      {
        files: new Map([
          ["/a.wasm", tinyWasm()],
          ["/b.txt", text("b")],
        ]),
        entry: "/a.wasm",
        format: "wasm-artifact",
      },
      "INVALID_ARGUMENT",
      /files/,
    ],
  ];
  for (const [name, opts, code, msg] of cases) {
    await assert.rejects(
      buildImage(opts),
      (e) => isWasmletError(e) && e.code === code && msg.test(e.message),
      name,
    );
  }
});

test("compat-smart image carries directories, symlinks and the preopens label; without them the bytes are as before", async () => {
  const wasm = tinyWasm("dirs");
  const files = new Map([
    ["/app.wasm", wasm],
    ["/work/in.txt", new TextEncoder().encode("in")],
  ]);
  const plain = await buildImage({ files, entry: "/app.wasm" });
  const same = await buildImage({ files, entry: "/app.wasm", dirs: [], symlinks: new Map(), preopens: [] });
  assert.equal(same.manifestDigest, plain.manifestDigest, "empty extras change nothing");
  const bundle = await buildImage({
    files,
    entry: "/app.wasm",
    dirs: ["/work", "/work/empty"],
    symlinks: new Map([["/work/link", "in.txt"]]),
    preopens: ["work"],
  });
  const { config, layer } = parts(bundle);
  const entries = await tarEntries(gunzipSync(layer));
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.linkname ?? ""]),
    [
      ["app.wasm", "file", ""],
      ["work/", "directory", ""],
      ["work/empty/", "directory", ""],
      ["work/in.txt", "file", ""],
      ["work/link", "symlink", "in.txt"],
    ],
  );
  assert.deepEqual(config.config.Labels, { "dev.wasmlet.wasi.preopens": '["work"]' });
  await assert.rejects(
    buildImage({ files, entry: "/app.wasm", symlinks: new Map([["/work/in.txt", "x"]]) }),
    /given twice/,
  );
  await assert.rejects(
    buildImage({
      files: new Map([["/app.wasm", wasm]]),
      entry: "/app.wasm",
      format: "wasm-artifact",
      preopens: ["x"],
    }),
    /only the entry module/,
  );
});

test("a large layer is an uncompressed tar whose digest is its diff_id, a small one gzip; both unpack to their files", async () => {
  // Compressible content either way: a module padded with a repeating pattern.
  const pattern = (n: number) => Buffer.alloc(n, "wasmlet-layer ");
  for (const [size, large] of [
    [64 * 1024, false],
    [LARGE_LAYER_MIN_BYTES + 1024, true],
  ] as const) {
    const module = Buffer.concat([tinyWasm(), pattern(size)]);
    const { manifest, config, layer } = parts(
      await buildImage({ files: new Map([["/m.wasm", module]]), entry: "/m.wasm" }),
    );
    assert.equal(manifest.layers[0].mediaType, large ? MEDIA_TYPES.layerTar : MEDIA_TYPES.layerTarGzip);
    assert.equal(manifest.layers[0].digest, sha256Digest(layer));
    const raw = large ? layer : gunzipSync(layer);
    assert.equal(config.rootfs.diff_ids[0], sha256Digest(raw));
    if (!large)
      assert.ok(
        layer.length < raw.length / 10,
        `${size}: layer ${layer.length} bytes for a tar of ${raw.length}`,
      );
    const entries = await tarEntries(raw);
    assert.equal(entries.length, 1);
    assert.equal(entries[0].data, module.toString("latin1"));
  }
});

/**
 * A hasher that hashes later, like the native addon's on libuv's pool: node's hash, the queued bytes hashed in a
 * timer's callback; tells `onUpdate` each update as it is queued.
 */
function deferredHasher(onUpdate: (bytes: Uint8Array) => void): LayerHasher {
  const hash = createHash("sha256");
  const queued: Uint8Array[] = [];
  let closed = false;
  const drain = () => {
    for (const b of queued.splice(0)) hash.update(b);
  };
  return {
    update: (b) => {
      assert.equal(closed, false, "no update after the digest");
      onUpdate(b);
      queued.push(b);
      if (queued.length === 1) setTimeout(drain, 1);
    },
    digest: async () => {
      closed = true;
      await new Promise((r) => setTimeout(r, 2));
      drain();
      return `sha256:${hash.digest("hex")}` as Digest;
    },
  };
}

/** An upload's buffer: 100 bytes of something else, then `module`, filled as it "arrives" (registry Arrival). */
function arriving(module: Uint8Array) {
  const buffer = new SharedArrayBuffer(100 + module.length);
  const bytes = new Uint8Array(buffer);
  const counter = new Int32Array(new SharedArrayBuffer(8));
  const arrive = (to: number) => {
    bytes.set(module.subarray(Atomics.load(counter, 0) - 100, to - 100), Atomics.load(counter, 0));
    Atomics.store(counter, 0, to);
    Atomics.notify(counter, 0);
  };
  Atomics.store(counter, 0, 100);
  arrive(100 + 8);
  /** Brings the module up to `stop` bytes, 300,001 at a time, a timer's turn apart. */
  const until = async (stop: number) => {
    for (let at = Atomics.load(counter, 0) - 100; at < stop; at = Math.min(stop, at + 300_001)) {
      arrive(100 + Math.min(stop, at + 300_001));
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const giveUp = () => {
    Atomics.store(counter, 1, 1);
    Atomics.notify(counter, 0);
  };
  return { arrival: { buffer, counter }, module: bytes.subarray(100), until, giveUp };
}

test("a large layer made while its module arrives reads each byte once it is there and is the layer made of it whole, hashed here or off this thread, its staged file holding it; an upload given up fails it and leaves no staged file", async (t) => {
  const module = Buffer.concat([tinyWasm(), Buffer.from(randomBytes(LARGE_LAYER_MIN_BYTES + 12345))]);
  const whole = await buildImage({ files: new Map([["/m.wasm", new Uint8Array(module)]]), entry: "/m.wasm" });
  const stageDir = await mkdtemp(join(tmpdir(), "wasmlet-arrival-"));
  t.after(() => setLayerHasher(undefined));
  try {
    for (const [hasher, givenUp] of [
      ["inline", false],
      ["inline", true],
      ["deferred", false],
      ["deferred", true],
    ] as const) {
      const upload = arriving(module);
      // For each update of the module's bytes: where it ends and how many had arrived then.
      const updates: { end: number; there: number }[] = [];
      setLayerHasher(
        hasher === "deferred"
          ? () =>
              deferredHasher((b) => {
                if (b.buffer === upload.arrival.buffer)
                  updates.push({
                    end: b.byteOffset + b.byteLength,
                    there: Atomics.load(upload.arrival.counter, 0),
                  });
              })
          : undefined,
      );
      const building = buildImage({
        files: new Map([["/m.wasm", upload.module]]),
        entry: "/m.wasm",
        stageDir,
        arriving: upload.arrival,
      });
      building.catch(() => {});
      await upload.until(givenUp ? module.length / 2 : module.length);
      if (givenUp) {
        upload.giveUp();
        await assert.rejects(building, /the upload ended before its module did/);
      } else {
        const bundle = await building;
        assert.equal(bundle.manifestDigest, whole.manifestDigest, hasher);
        assert.equal(bundle.staged?.size, 1);
        for (const [digest, file] of bundle.staged ?? []) {
          assert.equal(sha256Digest(await readFile(file)), digest, `${hasher}: the staged file is the layer`);
          await rm(file);
        }
      }
      assert.deepEqual(await readdir(stageDir), [], `${hasher}: ${givenUp ? "given up" : "arrived"}`);
      if (hasher === "deferred") {
        for (const u of updates)
          assert.ok(u.end <= u.there, `an update read up to ${u.end} of ${u.there} arrived`);
        if (!givenUp)
          assert.ok(
            updates.length >= 2 && updates[0].there < 100 + module.length,
            `the module is hashed in regions, the first before its last byte arrived (${JSON.stringify(updates)})`,
          );
      }
    }
    // Laid out in one buffer (for a registry elsewhere) with the hash off this thread: the same layer.
    setLayerHasher(() => deferredHasher(() => {}));
    const laidOut = await buildImage({
      files: new Map([["/m.wasm", new Uint8Array(module)]]),
      entry: "/m.wasm",
    });
    assert.equal(laidOut.manifestDigest, whole.manifestDigest);
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
});

test("a large layer whose staging directory cannot be written fails with the file system's error while its module still arrives, and the process goes on", async () => {
  const module = Buffer.concat([tinyWasm(), Buffer.from(randomBytes(LARGE_LAYER_MIN_BYTES + 3))]);
  const upload = arriving(module);
  const building = buildImage({
    files: new Map([["/m.wasm", upload.module]]),
    entry: "/m.wasm",
    stageDir: join(tmpdir(), `wasmlet-no-such-dir-${process.pid}`, "x"),
    arriving: upload.arrival,
  });
  building.catch(() => {});
  // Turns of the event loop pass with the failed writes waiting for their Promise.all.
  await upload.until(module.length / 2);
  await new Promise((r) => setTimeout(r, 20));
  await upload.until(module.length);
  await assert.rejects(building, /ENOENT/);
});
