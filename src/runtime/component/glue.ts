// Rewrites of the JavaScript glue jco-transpile 0.15 generates, made before it is compiled. Each rewrite finds the
// exact definition it replaces and leaves the glue as it is when that is not there (another jco version).

/** jco's debug logger as its glue defines it: it reads `process.env.JCO_DEBUG` on every call. */
const DEBUG_LOG = /^([ \t]*)const _debugLog = \(\.\.\.args\) => \{$/m;
const CREATE_TASK = /^([ \t]*)function createNewCurrentTask\(args\) \{$/m;
const LOWER_IMPORT = /^([ \t]*)function _lowerImportBackwardsCompat\(args\) \{$/m;
/** jco's reader of the current task's metadata, which hands out a copy (`{ ...v }`) of it at every call. */
const TASK_META = /^([ \t]*)function _getGlobalCurrentTaskMeta\(componentIdx\) \{$/m;
/** What each import trampoline asks of it: the task id only. */
const TASK_META_ID = /_getGlobalCurrentTaskMeta\((\w+)\)\?\.taskID/g;
/** The current task's id as `_getGlobalCurrentTaskMeta(idx)?.taskID` gives it, without the copy. */
const TASK_ID = `function __wasmletTaskID(componentIdx) {
  const v = componentIdx === undefined || componentIdx === null
    ? CURRENT_TASK_META.current
    : CURRENT_TASK_META[componentIdx];
  return v === undefined || v === null ? undefined : v.taskID;
}`;
/** Where the glue makes each import the guest calls: the lowering bound to the import's description. */
const LOWER_IMPORT_BIND = /_lowerImportBackwardsCompat\.bind\(\s*null,/g;

/**
 * The import a core instance gets for a synchronous import: a function of the trampoline's own arity that checks
 * the instance may leave and calls the trampoline, with no bound function, `arguments` copy or `apply` between (a
 * bound `_lowerImportBackwardsCompat` spent ~2 KB of garbage and ~1 µs per call here). Anything else keeps jco's
 * lowering.
 */
const DIRECT_IMPORT = `function __wasmletLowerImport(_this, args) {
  const f = args.importFn;
  const ci = args.componentIdx;
  if (args.isAsync || args.isManualAsync || args.funcTypeIsAsync || typeof f !== "function")
    return _lowerImportBackwardsCompat.bind(null, args);
  switch (f.length) {
    case 0: return function () { _checkMayLeave(ci); return f(); };
    case 1: return function (a) { _checkMayLeave(ci); return f(a); };
    case 2: return function (a, b) { _checkMayLeave(ci); return f(a, b); };
    case 3: return function (a, b, c) { _checkMayLeave(ci); return f(a, b, c); };
    case 4: return function (a, b, c, d) { _checkMayLeave(ci); return f(a, b, c, d); };
    case 5: return function (a, b, c, d, e) { _checkMayLeave(ci); return f(a, b, c, d, e); };
    case 6: return function (a, b, c, d, e, g) { _checkMayLeave(ci); return f(a, b, c, d, e, g); };
    default: return function () { _checkMayLeave(ci); return f.apply(null, arguments); };
  }
}`;
/** The resource handle tables of one instance (jco makes the list in `instantiate`, one table per resource type). */
const HANDLE_TABLES = /^([ \t]*)const HANDLE_TABLES\s*=\s*\[\];$/m;
/** The host objects behind one resource type's handles, by rep (`captureTable<N>`, paired with `handleTable<N>`). */
const CAPTURE_TABLE = /^([ \t]*)const (captureTable(\d+))\s*=\s*new Map\(\);$/gm;

/** What `exposeTables` makes the glue set at each `instantiate`: its handle tables and capture tables, by index. */
export interface GlueTables {
  handles: unknown[][];
  captures: Map<number, unknown>[];
}

/** The variable the glue sets (exposeTables); the runner reads it right after each `instantiate`. */
export const GLUE_TABLES = "__wasmletTables";

/**
 * The task of a synchronous call as the glue's synchronous paths use it: it tracks nothing. jco 0.15 makes every
 * call into and out of a component a task of the component model's async ABI (component-model "p3": tasks,
 * subtasks, waitables, a BigInt id each, ~40 fields) even for a synchronous wasi 0.2 component, where no call can
 * be pending while another runs; what those tasks check (borrow scopes, backpressure, re-entrance) protects the
 * guest from itself, never the host or another request, and the instance is dropped after any failure anyway.
 */
const SYNC_TASK = `class __WasmletSyncTask {
  constructor(componentIdx) { this.idx = componentIdx; }
  id() { return 0; }
  componentIdx() { return this.idx; }
  enterSync() { return true; }
  mayBlock() { return false; }
  exit() {}
  resolve() {}
  reject() {}
  setErrored() {}
  setParentSubtask() {}
  getParentSubtask() { return undefined; }
  setCalleeIsAsync() {}
  setReturnMemoryIdx() {}
  setReturnMemory() {}
  registerOnResolveHandler() {}
  isResolvedState() { return false; }
  isExited() { return false; }
}
const __wasmletSyncTasks = new Map();`;

/**
 * The glue with its per-call overhead cut, for synchronous calls only (an async-lowered or async-typed call keeps
 * jco's machinery):
 * - the debug logger is a no-op (it read `process.env` at each of ~390 call sites);
 * - `createNewCurrentTask` hands synchronous calls a task that tracks nothing (SYNC_TASK), and since such tasks are
 *   not registered, a host function the guest calls finds no parent task and needs no subtask;
 * - `_lowerImportBackwardsCompat` calls a synchronous import's trampoline directly (its own lifting and lowering
 *   are unchanged) instead of creating a subtask around it, and the core instances import a plain function of the
 *   trampoline's arity that does the same (DIRECT_IMPORT) instead of that lowering bound to the import;
 * - each import trampoline reads the current task's id without copying the task's metadata (TASK_ID).
 * CPU per request in process (BENCH=components; jco's glue as generated -> logger quieted -> both rewrites): the
 * 8 KB wasi:http hello from C 0.127 -> 0.093 -> 0.015 ms, the 13 MB componentize-js one 1.33 -> 1.25 -> 1.0 ms.
 */
export function fastGlue(js: string): string {
  let out = js.replace(DEBUG_LOG, "$1const _debugLog = () => {};\n$1const _jcoDebugLog = (...args) => {");
  if (!CREATE_TASK.test(out) || !LOWER_IMPORT.test(out)) return out;
  out = out.replace(
    CREATE_TASK,
    `${SYNC_TASK}\n$&\n$1  if (!args.isAsync && !args.isManualAsync) {\n` +
      `$1    let t = __wasmletSyncTasks.get(args.componentIdx);\n` +
      `$1    if (!t) __wasmletSyncTasks.set(args.componentIdx, (t = new __WasmletSyncTask(args.componentIdx)));\n` +
      `$1    return [t, 0];\n$1  }`,
  );
  if (TASK_META.test(out))
    out = out.replace(TASK_META, `${TASK_ID}\n$&`).replace(TASK_META_ID, "__wasmletTaskID($1)");
  return out
    .replace(LOWER_IMPORT_BIND, "__wasmletLowerImport(null,")
    .replace(
      LOWER_IMPORT,
      `${DIRECT_IMPORT}\n$&\n$1  if (!args.isAsync && !args.isManualAsync && !args.funcTypeIsAsync) {\n` +
        `$1    _checkMayLeave(args.componentIdx);\n` +
        `$1    return args.importFn.apply(null, Array.prototype.slice.call(arguments, 1));\n$1  }`,
    );
}

/**
 * The glue with the resource tables of each new instance made visible in `GLUE_TABLES` (a module-level variable
 * it declares first), so that the runner can put them back to their state right after instantiation together
 * with the core memories: a handle a run created (and maybe never dropped) is gone for the next run, as is the
 * host object behind it, and the instance can serve any number of runs without its tables growing. Null when the
 * glue does not have the definitions this expects (another jco version): the runner then makes a new instance
 * every so often instead.
 */
export function exposeTables(js: string): string | null {
  const handles = HANDLE_TABLES.exec(js);
  const captures = [...js.matchAll(CAPTURE_TABLE)];
  // Every handle table is registered as `HANDLE_TABLES[N] = handleTableN` with its `captureTableN` beside it.
  const registered = js.match(/^[ \t]*HANDLE_TABLES\[\d+\]\s*=\s*handleTable\d+;$/gm) ?? [];
  if (!handles || registered.length !== captures.length) return null;
  return `let ${GLUE_TABLES};\n${js
    .replace(HANDLE_TABLES, `$&\n$1${GLUE_TABLES} = { handles: HANDLE_TABLES, captures: [] };`)
    .replace(CAPTURE_TABLE, `$&\n$1${GLUE_TABLES}.captures[$3] = $2;`)}`;
}
