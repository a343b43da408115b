// wasi:config/store (WebAssembly/wasi-runtime-config, 0.2.0-draft; `wasi:config/runtime` before its rename): a
// component reads the function's configs and secrets by `<name>/<key>`, the same values its files hold.
import { currentInvocation as inv } from "./host-http.js";

function get(key: string): string | undefined {
  for (const [k, v] of inv().config) if (k === key) return v;
  return undefined;
}

/** `get-all`: every entry, configs first (a fresh list: the glue may keep it). */
function getAll(): [string, string][] {
  return inv().config.map(([k, v]) => [k, v]);
}

/** The wasi:config imports; jco's glue turns the returned values into `ok` results (nothing here fails). */
export function configImports(): Record<string, object> {
  const store = { get, getAll };
  return { "wasi:config/store": store, "wasi:config/runtime": store };
}
