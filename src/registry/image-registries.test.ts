import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Digest, LoadedImage } from "../core/index.js";
import type { RegistryClient } from "./client.js";
import { buildImage, type ImageBundle } from "./image-build.js";
import { ImageRegistries } from "./image-registries.js";
import { ImageStore } from "./image-store.js";
import { tinyWasm } from "./test-support.js";

const LOCAL = "127.0.0.1:8081";
let root: string;
let store: ImageStore;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "wasmlet-registries-"));
  store = new ImageStore({ root, sweepIntervalMs: 0 });
});
after(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/** A client that records what reaches it and stores nothing. */
function recordingClient(): { client: RegistryClient; calls: string[] } {
  const calls: string[] = [];
  const client = {
    push: async (ref: string, b: ImageBundle) => {
      calls.push(`push ${ref}`);
      return b.manifestDigest;
    },
    resolve: async (ref: string) => {
      calls.push(`resolve ${ref}`);
      return `sha256:${"0".repeat(64)}` as Digest;
    },
    pull: async (ref: string) => {
      calls.push(`pull ${ref}`);
      return { digest: `sha256:${"0".repeat(64)}`, entry: "/remote.wasm" } as LoadedImage;
    },
  } as unknown as RegistryClient;
  return { client, calls };
}

const image = (tag: string) =>
  buildImage({ files: new Map([["/app.wasm", tinyWasm(tag)]]), entry: "/app.wasm" });

test("a tag of the local registry is pushed into the store; digests, other hosts and no local host go over HTTP", async () => {
  const { client, calls } = recordingClient();
  const registries = new ImageRegistries({ store, client, localHost: LOCAL });
  const local = await image("local");
  assert.equal(await registries.push(`${LOCAL}/functions/f:v1`, local), local.manifestDigest);
  assert.deepEqual(calls, [], "nothing went over HTTP");
  assert.ok(await store.loadLocal(local.manifestDigest), "the store has it");

  const remote = await image("remote");
  await registries.push(`registry.example:5000/apps/f:v1`, remote);
  await registries.push(`${LOCAL}/functions/f@${remote.manifestDigest}`, remote);
  await new ImageRegistries({ store, client }).push(`${LOCAL}/functions/f:v2`, remote);
  assert.deepEqual(calls, [
    "push registry.example:5000/apps/f:v1",
    `push ${LOCAL}/functions/f@${remote.manifestDigest}`,
    `push ${LOCAL}/functions/f:v2`,
  ]);
  assert.equal(await store.loadLocal(remote.manifestDigest), undefined, "and the store never saw them");
});

test("load reads a digest the store holds, whatever the host, and else pulls it pinned to the digest", async () => {
  const { client, calls } = recordingClient();
  const registries = new ImageRegistries({ store, client });
  const b = await image("load");
  await store.pushLocal("functions/load", "v1", b);
  const got = await registries.load("elsewhere.example/functions/load:v1", b.manifestDigest);
  assert.equal(got.entry, "/app.wasm");
  assert.deepEqual(calls, []);

  const missing = `sha256:${"1".repeat(64)}` as Digest;
  const pulled = await registries.load("registry.example:5000/apps/f:v3", missing);
  assert.equal(pulled.entry, "/remote.wasm");
  assert.deepEqual(calls, [`pull registry.example:5000/apps/f@${missing}`]);
});

test("an image pushed to the local store with its content is loaded once as built, then from the store", async () => {
  const { client } = recordingClient();
  const registries = new ImageRegistries({ store, client, localHost: LOCAL });
  const module = tinyWasm("handed-over");
  const files = new Map([["/app.wasm", module]]);
  const bundle = await buildImage({ files, entry: "/app.wasm" });
  const ref = `${LOCAL}/functions/h:v1`;
  const digest = await registries.push(ref, bundle, { entry: "/app.wasm", module, files });
  const first = await registries.load(ref, digest);
  assert.equal(first.files, files, "the first load gets the files as they were built");
  assert.equal(first.digest, digest);
  const second = await registries.load(ref, digest);
  assert.notEqual(second.files, files, "the second load reads the store");
  assert.deepEqual(Buffer.from(second.module), Buffer.from(module));
  assert.equal(second.entry, "/app.wasm");
});

test("a blob of the embedded registry is read from the store, whatever its public name; others over HTTP", async () => {
  const calls: string[] = [];
  const client = {
    blob: async (ref: string, digest: Digest) => {
      calls.push(`blob ${ref} ${digest}`);
      return new Uint8Array([1]);
    },
  } as unknown as RegistryClient;
  // The public name of a Kubernetes Service, which this process need not reach.
  const PUBLIC = "wasmlet-control.wasmlet.svc.cluster.local:8081";
  const registries = new ImageRegistries({ store, client, localHost: PUBLIC });
  const bundle = await image("blob");
  await registries.push(`${PUBLIC}/packages/p:src-1`, bundle);
  const [digest, bytes] = [...bundle.blobs][0];
  assert.deepEqual(await registries.blob(`${PUBLIC}/packages/p`, digest), bytes);
  assert.deepEqual(calls, [], "read from the store");
  // Another repository does not hold it (links are per repository): asked of the registry.
  await registries.blob(`${PUBLIC}/packages/other`, digest);
  await registries.blob(`registry.example:5000/packages/p`, digest);
  assert.deepEqual(calls, [
    `blob ${PUBLIC}/packages/other ${digest}`,
    `blob registry.example:5000/packages/p ${digest}`,
  ]);
});
