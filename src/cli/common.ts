import { type Command, InvalidArgumentError } from "commander";
import { ApiClient, type Gathered } from "../client/index.js";
import { WasmletError } from "../core/index.js";
import type * as Spec from "../spec/index.js";

export const DEFAULT_SERVER = "http://127.0.0.1:8081";

/** The API client for the global `--server` / `--token` options (an empty WASMLET_SERVER means the default). */
export function clientOf(cmd: Command): ApiClient {
  const { server, token } = cmd.optsWithGlobals<{ server?: string; token?: string }>();
  return new ApiClient({ server: server || DEFAULT_SERVER, token: token || undefined });
}

/** Commander parser for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError("must be a whole number >= 0.");
  return Number(value);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Commander parser for durations such as 500ms, 90s, 1h30m: milliseconds. */
export function duration(value: string): number {
  if (!/^(\d+(ms|s|m|h|d))+$/.test(value))
    throw new InvalidArgumentError("must be a duration such as 500ms, 90s, 5m or 1h30m.");
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * DURATION_UNITS[unit];
  if (ms < 1) throw new InvalidArgumentError("must be longer than 0.");
  return ms;
}

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError("must be a positive integer.");
  return Number(value);
}

/** `K=V` pairs (from repeated --env) into a record; the key is validated by the server. */
export function keyValues(
  pairs: string[] | undefined,
  sep: string,
  option: string,
): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf(sep);
    if (i <= 0) throw new WasmletError("INVALID_ARGUMENT", `${option}: "${p}" must look like KEY${sep}VALUE`);
    out[p.slice(0, i).trim()] = p.slice(i + 1).trimStart();
  }
  return out;
}

/**
 * On a cluster: warns on stderr when nodes did not answer a gathered read or change, naming them (their records
 * are missing or unchanged). Only a warning: what the other nodes answered is printed and the exit code stays 0.
 */
export function warnPartial(g: Gathered): void {
  const missing = g.unreachable ?? [];
  if (!g.partial || missing.length === 0) return;
  process.stderr.write(
    `warning: ${missing.length === 1 ? "1 node" : `${missing.length} nodes`} did not answer, their records are not included: ${missing
      .map((u) => `${u.node} (${u.error})`)
      .join(", ")}\n`,
  );
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export type OutputFormat = "yaml" | "json";

export function printResource(value: unknown, format: OutputFormat, toYaml: (v: unknown) => string): void {
  print(format === "json" ? JSON.stringify(value, null, 2) : toYaml(value));
}

/**
 * The spec module, loaded by the commands that read or write specs: its schemas (zod) are most of what a CLI
 * start would otherwise load.
 */
export function loadSpec(): Promise<typeof Spec> {
  return import("../spec/index.js");
}
