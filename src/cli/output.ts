import type { LogEntry } from "../core/index.js";

/** `sha256:0123456789ab…` (or sha512:…) → `0123456789ab`: enough to tell versions apart in a table. */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
}

/** Left-aligned columns separated by three spaces, as kubectl and fission print them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("   ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Strings YAML would read as something else (numbers, booleans, empty, leading symbols) are quoted. */
function scalar(v: unknown): string {
  if (typeof v !== "string") return String(v);
  const plain = /^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+:= -]*$/.test(v) && !v.endsWith(" ") && !v.includes(": ");
  const ambiguous = /^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+([eE][-+]?[0-9]+)?)$/i.test(v);
  return plain && !ambiguous ? v : JSON.stringify(v);
}

/** A small YAML rendering of JSON data (what `-o yaml` prints); `-o json` is there for machines. */
export function toYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return value.map((v) => `${indent}- ${toYaml(v, `${indent}  `).trimStart()}`).join("\n");
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    return entries
      .map(([k, v]) => {
        const key = `${indent}${scalar(k)}:`;
        if (typeof v === "object" && v !== null && Object.keys(v).length > 0)
          return `${key}\n${toYaml(v, `${indent}  `)}`;
        return `${key} ${toYaml(v, "")}`;
      })
      .join("\n");
  }
  return `${indent}${scalar(value)}`;
}

/** One invocation: a summary line (with `timer/<name>` when a trigger started it), then its stderr indented under it. */
export function formatLogEntry(e: LogEntry): string[] {
  const via = e.trigger ? `${e.trigger.kind}/${e.trigger.name}` : "";
  const head = [
    e.time,
    e.node ?? "",
    String(e.status),
    `${e.durationMs}ms`,
    shortDigest(e.digest),
    via,
    e.invocationId ?? "",
    e.error ?? "",
  ]
    .filter((part) => part !== "")
    .join("  ");
  const stderr = e.stderr.replace(/\n$/, "");
  return stderr === "" ? [head] : [head, ...stderr.split("\n").map((l) => `    ${l}`)];
}
