import type { Builder, BuildQueue } from "../build/index.js";
import type {
  Digest,
  FunctionRecord,
  ImageFormat,
  LoadedImage,
  TriggerKind,
  TriggerStatus,
} from "../core/index.js";
import type { Arrival, ImageBundle } from "../registry/index.js";
import type { InvocationRequest, InvocationResponse, RunReport } from "../runtime/index.js";
import type { SecretKey } from "../secrets/index.js";
import type { Store } from "../store/index.js";
import type { ModuleInfo } from "../wasm/index.js";
import type { ClusterPeers } from "./gather.js";

/** Everything the control API works with; the composition root (serve) wires the real parts in. */
export interface ApiDeps {
  /** Where functions and triggers are kept; read and written on every request. */
  store: Store;
  /** What function and package image references start with: the embedded registry on the control port
   * ("127.0.0.1:8081"), or an external registry with its repository prefix ("reg.example.com/myorg"). */
  registryHost: string;
  /** A RegistryClient. `push` is called once per new code version, after validation and before the store write;
   * `resolve` then `pull` (by digest) once per new `image` version, to pin and check it. */
  registry: {
    /** `content`: the image's files as built, which a registry of this process may hand to the runtime as they are. */
    push(ref: string, bundle: ImageBundle, content?: Omit<LoadedImage, "digest">): Promise<Digest>;
    resolve(ref: string): Promise<Digest>;
    pull(ref: string): Promise<LoadedImage>;
    /** One blob of `ref`'s repository by digest, verified (a package's source archive). */
    blob(ref: string, digest: Digest): Promise<Uint8Array>;
  };
  /** Packages uploaded module bytes as an image; called once per new code version (a failed `inspectModule` drops it). */
  buildImage: (opts: {
    files: ReadonlyMap<string, Uint8Array>;
    entry: string;
    format?: ImageFormat;
    dirs?: readonly string[];
    symlinks?: ReadonlyMap<string, string>;
    preopens?: readonly string[];
    /** The files' bytes still arriving (the module of an upload in progress: api/source.ts earlyImage). */
    arriving?: Arrival;
  }) => Promise<ImageBundle>;
  /** Validates module bytes before anything is pushed or stored; throws WasmletError INVALID_MODULE naming the problem.
   * What it reports (the initial memory) is checked against the function's limits. `validate: false`: V8's
   * validation is left to the caller, which compiles the bytes (a large module: compileCapped). */
  inspectModule: (bytes: Uint8Array, opts?: { validate?: boolean }) => ModuleInfo;
  /** Runs a function for /invoke. Provided by the runtime side; may throw a WasmletError (its status is answered). */
  invoke(fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse>;
  /** Runs a function for /run (`fn test`): the program's exit code, stdout, stderr and the files written under `collect`. */
  run(fn: FunctionRecord, req: InvocationRequest, collect?: string): Promise<RunReport>;
  /**
   * Resolves once this process's router has applied every store change it has seen: a route this API wrote is
   * served as written by the time the answer goes out (the routers of other processes follow the change feed).
   */
  routesApplied?(): Promise<void>;
  /**
   * Called when a large module's upload begins: the runtime of this process boots a worker for its first runs
   * meanwhile (a boot took 30-50 ms here, in the first answer when no worker was idle).
   */
  prestartWorkers?(): void;
  /** Called after a function's current version changed or it was created (prepare before first request); errors are logged, not returned. */
  onDeploy?(fn: FunctionRecord): Promise<void>;
  /** Seals secret values before they are stored (and opens them for an update); absent: secrets are refused. */
  secretKey?: SecretKey;
  /** Bearer token required on every /api/v1 request when set (and sent to the other nodes when gathering). */
  token?: string;
  /**
   * The other nodes of a cluster on etcd: reads of invocation records and logs, and redrive/purge, are gathered
   * from every live node (each keeps its own). Absent (SQLite): this node's records are all there are.
   */
  cluster?: ClusterPeers;
  /** Where package builds wait and run (bounded, with a time limit); default: a BuildQueue with its defaults. */
  buildQueue?: BuildQueue;
  /** Builders by name, consulted on every package create/build; default: the build folder's BUILDERS. */
  builders?: Readonly<Record<string, Builder>>;
  /** Aborted when the server shuts down: running builds are killed and leave their package "running" for the
   * next start to requeue. */
  signal?: AbortSignal;
  /** Runs one gc pass of the embedded registry, keeping `roots` (every digest the store still names) and all they
   * reference; called by `POST /api/v1/registry/gc`. Absent when the server embeds no registry; it throws, naming
   * the registry, when images live in an external one (Wasmlet does not delete other registries' blobs). */
  collectGarbage?(roots: Digest[]): Promise<{ deletedBlobs: number; freedBytes: number }>;
  /** The live state of a timer or queue trigger (shown by get and list); absent when no triggers run here. */
  triggerStatus?(kind: TriggerKind, name: string): TriggerStatus | undefined;
  /** `host:port` under which clusters pull images of the platform's registry (`serve --public-registry`); used in
   * generated Kubernetes manifests instead of `registryHost`'s host. Default: that host. */
  publicRegistry?: string;
  /** Told of every finished package build: its builder, outcome and time from start to end (the metrics). */
  onBuild?(builder: string, outcome: "succeeded" | "failed", seconds: number): void;
  /** Where the API reports what no caller sees (a build that failed unexpectedly, a failed deploy notification);
   * default: console.error. */
  log?: (line: string) => void;
}
