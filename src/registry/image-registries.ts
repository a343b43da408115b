import type { Digest, LoadedImage } from "../core/index.js";
import type { RegistryClient } from "./client.js";
import type { ImageBundle } from "./image-build.js";
import type { ImageStore } from "./image-store.js";
import { parseReference } from "./reference.js";

/**
 * Where images go and come from: the embedded store when a reference names this server's own registry (no
 * HTTP round trips, same content and digests as a push over /v2), any other registry over HTTP.
 */
export class ImageRegistries {
  constructor(
    private readonly opts: {
      /** The embedded registry's storage. */
      store: ImageStore;
      /** Every other registry (and the embedded one, for what the store cannot answer). */
      client: RegistryClient;
      /** `host:port` under which references name the embedded registry; undefined: never push locally. */
      localHost?: string;
    },
  ) {}

  /** Pushes the bundle under `ref`; a tag of the embedded registry is written straight into its store. */
  push(ref: string, bundle: ImageBundle): Promise<Digest> {
    const { store, client, localHost } = this.opts;
    const r = parseReference(ref);
    return localHost !== undefined && r.registry === localHost && r.tag && !r.digest
      ? store.pushLocal(r.repository, r.tag, bundle)
      : client.push(ref, bundle);
  }

  /** The digest a reference names, asked of its registry. */
  resolve(ref: string): Promise<Digest> {
    return this.opts.client.resolve(ref);
  }

  /** The image a reference names, pulled from its registry. */
  pull(ref: string): Promise<LoadedImage> {
    return this.opts.client.pull(ref);
  }

  /**
   * The image `ref`'s repository holds under `digest`: from the embedded store when it has that manifest
   * (whatever host the reference names: the store is content-addressed), else pulled pinned to the digest.
   */
  async load(ref: string, digest: Digest): Promise<LoadedImage> {
    const local = await this.opts.store.loadLocal(digest);
    if (local) return local;
    const r = parseReference(ref);
    return this.opts.client.pull(`${r.registry}/${r.repository}@${digest}`);
  }
}
