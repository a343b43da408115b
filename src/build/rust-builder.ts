import { BUILDER_SOURCES } from "../core/index.js";
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { BaseBuilder, type BuildPlan, buildFailed, type SourceTree } from "./base-builder.js";
import type { BuilderOptions, DetectResult } from "./types.js";
import { pathArg } from "./workspace.js";

export const RUST_INSTALL = "apt-get install -y rustc cargo libstd-rust-dev-wasm32";

/** Rust 1.78 renamed the target to wasm32-wasip1 and 1.84 removed the old name; Debian 12 ships 1.63. */
const WASI_TARGETS = ["wasm32-wasip1", "wasm32-wasi"] as const;

export interface RustBuilderOptions extends BuilderOptions {
  /** cargo executable; default Debian's /usr/bin/cargo (a rustup cargo on PATH may lack the wasm target). */
  cargo?: string;
}

/**
 * Compiles Rust with Debian's rustc and its wasm32 std (std only: builds are offline, no crates).
 * A tree with Cargo.toml is a cargo project; otherwise the single `.rs` file, or main.rs / src/main.rs.
 */
export class RustBuilder extends BaseBuilder {
  readonly name = "rust";
  readonly extensions = BUILDER_SOURCES.rust;
  protected readonly label = "Rust";
  protected readonly installCommand = RUST_INSTALL;
  private readonly cargo: string;
  /** Set by detect(): the WASI target name this rustc knows. */
  private target: string = WASI_TARGETS[1];

  constructor(options: RustBuilderOptions = {}) {
    super("/usr/bin/rustc", options);
    this.cargo = options.cargo ?? "/usr/bin/cargo";
  }

  async detect(): Promise<DetectResult> {
    const version = await this.probe(this.compiler, ["--version"]);
    if (version.spawnError || version.code !== 0)
      return { ok: false, missing: `rustc (${this.compiler})`, install: RUST_INSTALL };
    const sysroot = await this.probe(this.compiler, ["--print", "sysroot"]);
    const root = sysroot.output.trim().split("\n").pop() ?? "";
    for (const t of WASI_TARGETS) {
      const present = await access(join(root, "lib", "rustlib", t, "lib"))
        .then(() => true)
        .catch(() => false);
      if (present) {
        this.target = t;
        return { ok: true, version: `${version.output.trim()} (${t})` };
      }
    }
    return {
      ok: false,
      missing: `the Rust standard library for wasm32-wasi (libstd-rust-dev-wasm32) in ${root}`,
      install: RUST_INSTALL,
    };
  }

  protected findEntry(tree: SourceTree): string | undefined {
    const name = tree.files.has("Cargo.toml") ? cargoPackageName(tree.files.get("Cargo.toml")!) : undefined;
    if (name) return `${name}.rs`;
    const sources = tree.paths.filter((p) => p.endsWith(".rs"));
    if (sources.length === 1) return sources[0];
    return ["main.rs", "src/main.rs"].find((p) => tree.files.has(p));
  }

  protected plan(tree: SourceTree): BuildPlan {
    if (tree.files.has("Cargo.toml")) return this.cargoPlan(tree);
    const entry = this.findEntry(tree);
    if (!entry)
      throw buildFailed(
        tree.paths.some((p) => p.endsWith(".rs"))
          ? "cannot choose the Rust entry among several .rs files: name it main.rs or src/main.rs, or add a Cargo.toml"
          : "the source tree has no .rs file for the Rust builder",
      );
    const crateName = entry.replace(/^.*\//, "").replace(/\.rs$/, "").replace(/\W/g, "_") || "main";
    return {
      entry,
      commands: [
        {
          file: this.compiler,
          args: [
            "--target",
            this.target,
            "--edition=2021",
            "--crate-name",
            /^[0-9]/.test(crateName) ? `_${crateName}` : crateName,
            "-C",
            "opt-level=2",
            "-C",
            "strip=symbols",
            "-o",
            "out.wasm",
            pathArg(entry),
          ],
        },
      ],
      output: async () => "out.wasm",
    };
  }

  private cargoPlan(tree: SourceTree): BuildPlan {
    const pkg = cargoPackageName(tree.files.get("Cargo.toml")!);
    const releaseDir = join("target", this.target, "release");
    return {
      entry: this.findEntry(tree),
      commands: [
        {
          file: this.cargo,
          args: ["build", "--offline", "--release", "--target", this.target],
          env: { CARGO_PROFILE_RELEASE_STRIP: "symbols", CARGO_TERM_COLOR: "never" },
        },
      ],
      output: async (dir) => {
        const wasm = (await readdir(join(dir, releaseDir)).catch(() => [] as string[])).filter((f) =>
          f.endsWith(".wasm"),
        );
        const pick = wasm.length === 1 ? wasm[0] : wasm.find((f) => f === `${pkg}.wasm`);
        if (!pick)
          throw buildFailed(
            wasm.length === 0
              ? `cargo finished but produced no .wasm in ${releaseDir}: does the package have a binary target?`
              : `cargo produced several modules (${wasm.join(", ")}); keep one binary target`,
          );
        return join(releaseDir, pick);
      },
    };
  }

  protected toolEnv(dir: string): Record<string, string> {
    // cargo must use Debian's rustc (the one with the wasm32 std) and must not touch the server's ~/.cargo
    return {
      RUSTC: this.compiler,
      CARGO: this.cargo,
      CARGO_HOME: join(dir, ".cargo-home"),
      CARGO_BUILD_TARGET: this.target,
    };
  }
}

/** `name` of the [package] table; a full TOML parser is not needed for one key of one table. */
function cargoPackageName(toml: Uint8Array): string | undefined {
  const text = Buffer.from(toml).toString("utf8");
  const pkg = /^\s*\[package\]\s*$([\s\S]*?)(?=^\s*\[|$(?![\s\S]))/m.exec(text)?.[1] ?? "";
  return /^\s*name\s*=\s*["']([^"']+)["']/m.exec(pkg)?.[1];
}
