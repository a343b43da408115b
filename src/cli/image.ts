// `wasmlet image ...` works with images in any registry directly, through the registry folder's client: the one
// CLI noun that does not go through the control API (a registry is already a standard API).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, resolve, sep } from "node:path";
import { type Command, Option } from "commander";
import { IMAGE_FORMATS, type ImageFormat, WasmletError } from "../core/index.js";
import type { RegistryAuth, RegistryClient } from "../registry/index.js";
import { collect, DEFAULT_SERVER, type OutputFormat, print } from "./common.js";
import { readImageFiles } from "./fn.js";
import { NOUN_HELP } from "./nouns.js";
import { table } from "./output.js";
import { readRegistryAuth } from "./registry.js";

interface GlobalOptions {
  server?: string;
  token?: string;
  registryAuth?: string;
}

/** `host:port` of the control port: the embedded registry. */
function controlHost(cmd: Command): string {
  const { server } = cmd.optsWithGlobals<GlobalOptions>();
  return new URL(server || DEFAULT_SERVER).host;
}

// Loaded when an image command runs, not when the CLI starts: every other command would pay for the registry code.
const registry = () => import("../registry/index.js");

/** A client that sends the control token to the embedded registry and `--registry-auth` credentials elsewhere. */
async function registryClient(cmd: Command): Promise<RegistryClient> {
  const { RegistryClient } = await registry();
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const creds: Record<string, RegistryAuth> = o.registryAuth ? readRegistryAuth(o.registryAuth) : {};
  const own = controlHost(cmd);
  return new RegistryClient({
    auth: (host) => creds[host] ?? (host === own && o.token ? { token: o.token } : undefined),
  });
}

function readModule(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `--code: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Where an image file lands under `dir`; never outside it, whatever the path in the image says. */
function outputPath(dir: string, imagePath: string): string {
  const root = resolve(dir);
  const target = resolve(root, `.${imagePath}`);
  if (target !== root && !target.startsWith(root + sep))
    throw new WasmletError("INVALID_ARGUMENT", `image file ${imagePath} would be written outside ${root}`);
  return target;
}

export function registerImage(program: Command): void {
  const image = program
    .command("image")
    .description(NOUN_HELP.image)
    .option("--registry-auth <file>", 'credentials: JSON {"host:port": {"username","password"} | {"token"}}');

  image
    .command("push")
    .description("package a .wasm module (and files) as an image, push it, print its digest")
    .argument("<ref>", "where to push: host:port/repo:tag")
    .requiredOption("--code <file>", "the WASI module; it becomes /<file name> in the image, the Entrypoint")
    .option("--file <PATH=LOCAL>", "add a local file at an absolute path in the image (repeatable)", collect)
    .addOption(new Option("--format <format>", "image form").choices(IMAGE_FORMATS).default(IMAGE_FORMATS[0]))
    .action(async (ref: string, o: { code: string; file?: string[]; format: ImageFormat }, cmd: Command) => {
      const { buildImage, parseReference } = await registry();
      const r = parseReference(ref);
      const entry = `/${basename(o.code)}`;
      const files = new Map([[entry, readModule(o.code)]]);
      for (const [p, b64] of Object.entries(readImageFiles(o.file ?? [])))
        files.set(p, new Uint8Array(Buffer.from(b64, "base64")));
      if (o.format === "wasm-artifact" && files.size > 1)
        throw new WasmletError("INVALID_ARGUMENT", "--file: a wasm-artifact image holds only the module");
      const bundle = await buildImage({ files, entry, format: o.format });
      print(await (await registryClient(cmd)).push(r, bundle));
    });

  image
    .command("pull")
    .description("pull an image and write its module and files to a directory")
    .argument("<ref>", "host:port/repo:tag or @sha256:...")
    .option("-o, --output <dir>", "directory to write to", ".")
    .action(async (ref: string, o: { output: string }, cmd: Command) => {
      const img = await (await registryClient(cmd)).pull(ref);
      for (const [p, bytes] of img.files) {
        const target = outputPath(o.output, p);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, bytes);
      }
      print(`${img.digest}\nentry ${img.entry}, ${img.files.size} file(s) written to ${resolve(o.output)}`);
    });

  image
    .command("ls")
    .description("list repositories and tags of a registry (default: the embedded one on the control port)")
    .option("--registry <host:port>", "registry to list")
    .action(async (o: { registry?: string }, cmd: Command) => {
      const host = o.registry ?? controlHost(cmd);
      const client = await registryClient(cmd);
      const rows: string[][] = [];
      for (const repo of await client.repositories(host)) {
        const tags = await client.tags({ registry: host, repository: repo });
        rows.push([repo, tags.join(", ")]);
      }
      print(table(["REPOSITORY", "TAGS"], rows));
    });

  image
    .command("inspect")
    .description("show an image's manifest digest, media types and config (entrypoint, os/arch)")
    .argument("<ref>", "host:port/repo:tag or @sha256:...")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (ref: string, o: { output: OutputFormat }, cmd: Command) => {
      const d = await (await registryClient(cmd)).inspect(ref);
      const cfg = (d.config ?? {}) as {
        architecture?: string;
        os?: string;
        config?: Record<string, unknown>;
      };
      const layers = Array.isArray(d.manifest.layers) ? (d.manifest.layers as { mediaType: string }[]) : [];
      const summary = {
        reference: d.reference,
        digest: d.digest,
        ...(d.indexDigest ? { indexDigest: d.indexDigest } : {}),
        mediaType: d.mediaType,
        configMediaType: (d.manifest.config as { mediaType?: string } | undefined)?.mediaType,
        layerMediaTypes: layers.map((l) => l.mediaType),
        annotations: d.manifest.annotations,
        os: cfg.os,
        architecture: cfg.architecture,
        entrypoint: cfg.config?.Entrypoint,
        cmd: cfg.config?.Cmd,
        env: cfg.config?.Env,
      };
      print(
        o.output === "json" ? JSON.stringify(summary, null, 2) : (await import("yaml")).stringify(summary),
      );
    });
}
