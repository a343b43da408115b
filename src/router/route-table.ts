import { decodePath, type FunctionRecord, type HttpTriggerRecord } from "../core/index.js";

export interface RouteMatch {
  trigger: HttpTriggerRecord;
  fn: FunctionRecord | undefined;
  pattern: string;
  scriptName: string;
  pathInfo: string;
  params: Record<string, string>;
}

export type Lookup = { match: RouteMatch } | { status: 404 } | { status: 405; allow: string[] };

interface Compiled {
  trigger: HttpTriggerRecord;
  methods: ReadonlySet<string>;
  /** For `{param}` routes: literal segments, or the parameter name prefixed with `{`. */
  segments?: string[];
  /** For prefix routes: the prefix without a trailing slash ("" for "/"). */
  prefix?: string;
}

/**
 * An immutable routing table built from triggers and functions. The router holds one and swaps it whole
 * when the store changes, so a request always sees one consistent table (no locks, no partial updates).
 * Precedence: static exact paths, then `{param}` paths (in order of creation), then the longest prefix.
 */
export class RouteTable {
  private readonly index: TriggerIndex;

  constructor(
    readonly triggers: ReadonlyMap<string, HttpTriggerRecord>,
    readonly functions: ReadonlyMap<string, FunctionRecord>,
    index?: TriggerIndex,
  ) {
    this.index = index ?? new TriggerIndex(triggers);
  }

  /** The same routes over other function records: the trigger index is shared, not rebuilt. */
  withFunctions(functions: ReadonlyMap<string, FunctionRecord>): RouteTable {
    return new RouteTable(this.triggers, functions, this.index);
  }

  /** Finds the route for a request path (already without query). */
  lookup(method: string, path: string): Lookup {
    const found = this.index.lookup(method, path);
    if ("status" in found) return found;
    const h = found.hit;
    return {
      match: {
        trigger: h.trigger,
        fn: this.functions.get(h.trigger.function),
        pattern: h.pattern,
        scriptName: h.scriptName,
        pathInfo: h.pathInfo,
        params: h.params,
      },
    };
  }
}

type IndexHit = { hit: Omit<RouteMatch, "fn"> };

/** Triggers compiled for lookup; immutable, shared by tables that differ only in function records. */
class TriggerIndex {
  private readonly exact = new Map<string, Compiled[]>();
  /** `{param}` routes by their number of segments (a request can only match routes of its own length). */
  private readonly params = new Map<number, Compiled[]>();
  /** Prefix routes by prefix: a lookup tries the path's ancestors, longest first, so it costs O(path depth). */
  private readonly prefixes = new Map<string, Compiled[]>();

  constructor(triggers: ReadonlyMap<string, HttpTriggerRecord>) {
    const sorted = [...triggers.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const t of sorted) {
      const c: Compiled = { trigger: t, methods: new Set(t.methods) };
      if (t.match === "prefix") {
        c.prefix = t.path.replace(/\/+$/, "");
        push(this.prefixes, c.prefix, c);
      } else if (t.path.includes("{")) {
        c.segments = t.path
          .split("/")
          .map((s) => (s.startsWith("{") && s.endsWith("}") ? s.slice(0, -1) : s));
        push(this.params, c.segments.length, c);
      } else {
        push(this.exact, t.path, c);
      }
    }
  }

  lookup(method: string, path: string): IndexHit | { status: 404 } | { status: 405; allow: string[] } {
    const allow = new Set<string>();
    const exact = this.exact.get(path);
    if (exact) {
      const hit = exact.find((c) => c.methods.has(method));
      if (hit) return this.hit(hit, path, path, "", {});
      for (const c of exact) for (const m of c.methods) allow.add(m);
    }
    if (this.params.size > 0) {
      const parts = path.split("/");
      for (const c of this.params.get(parts.length) ?? []) {
        const params = matchSegments(c.segments as string[], parts);
        if (!params) continue;
        if (c.methods.has(method)) return this.hit(c, c.trigger.path, path, "", params);
        for (const m of c.methods) allow.add(m);
      }
    }
    // Ancestors on segment boundaries: "/a/b/c", "/a/b", "/a", "" (the root prefix "/").
    for (let end = path.length; end >= 0; end = end > 0 ? path.lastIndexOf("/", end - 1) : -1) {
      const prefix = path.slice(0, end);
      for (const c of this.prefixes.get(prefix) ?? []) {
        if (c.methods.has(method)) return this.hit(c, `${prefix}/...`, prefix, path.slice(prefix.length), {});
        for (const m of c.methods) allow.add(m);
      }
      if (end === 0) break;
    }
    if (allow.size > 0) return { status: 405, allow: [...allow] };
    return { status: 404 };
  }

  private hit(
    c: Compiled,
    pattern: string,
    scriptName: string,
    pathInfo: string,
    params: Record<string, string>,
  ): IndexHit {
    return { hit: { trigger: c.trigger, pattern, scriptName, pathInfo, params } };
  }
}

function push<K>(map: Map<K, Compiled[]>, key: K, c: Compiled): void {
  const list = map.get(key);
  if (list) list.push(c);
  else map.set(key, [c]);
}

function matchSegments(segments: string[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const p = parts[i];
    if (s.startsWith("{")) {
      if (p === "") return undefined;
      params[s.slice(1)] = decodePath(p);
    } else if (s !== p) return undefined;
  }
  return params;
}
