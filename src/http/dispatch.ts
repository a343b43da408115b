import { WasmletError } from "../core/index.js";

/** What a path matched: the handler for the method and the pattern's captures. */
export interface Dispatched<H> {
  handler: H;
  /** The pattern's capture groups, in order (undefined for an optional group that did not match). */
  params: (string | undefined)[];
}

/** The path exists but not for this method (405 with `Allow`). */
export interface NotAllowed {
  allow: string[];
}

/**
 * Dispatch by method and path: patterns are tried in the order they were added; `*` takes any method. Knows
 * nothing of what a handler is, so each server keeps its own handler signature.
 */
export class Dispatcher<H> {
  private readonly routes: { re: RegExp; methods: Readonly<Record<string, H>> }[] = [];

  add(re: RegExp, methods: Readonly<Record<string, H>>): this {
    this.routes.push({ re, methods });
    return this;
  }

  /** The handler for `method` on `path`, a NotAllowed when only other methods are, undefined for no such path. */
  match(method: string, path: string): Dispatched<H> | NotAllowed | undefined {
    for (const { re, methods } of this.routes) {
      const m = re.exec(path);
      if (!m) continue;
      const handler = methods[method] ?? methods["*"];
      if (handler === undefined) return { allow: Object.keys(methods) };
      return { handler, params: m.slice(1) };
    }
    return undefined;
  }
}

/** 405 INVALID_ARGUMENT naming the allowed methods, for servers that answer in Wasmlet's envelope. */
export function methodNotAllowed(method: string, path: string, allow: string[]): WasmletError {
  return new WasmletError(
    "INVALID_ARGUMENT",
    `method ${method} is not allowed on ${path} (allowed: ${allow.join(", ")})`,
  );
}

/** Splits a request target into its path and its raw query (without `?`). */
export function splitTarget(url: string | undefined): { path: string; rawQuery: string } {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q < 0 ? { path: u, rawQuery: "" } : { path: u.slice(0, q), rawQuery: u.slice(q + 1) };
}

/** Decodes one percent-encoded path segment, or INVALID_ARGUMENT naming it. */
export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new WasmletError("INVALID_ARGUMENT", `path: "${s}" is not a valid percent-encoded segment`);
  }
}
