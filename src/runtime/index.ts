export { CONTRACTS, EXIT_CODE_HEADER, parseCgiOutput } from "./contracts/index.js";
export { setThreadCpuClock } from "./cpu-budget.js";
export { HybridExecutor, type HybridExecutorOptions } from "./executor.js";
export { Runtime, type RuntimeOptions, runLimits } from "./service.js";
export {
  COUNTED_BOUNDS_S,
  DURATION_BUCKETS_S,
  type FunctionCounts,
  InvocationStats,
  OUTCOMES,
  type Outcome,
  type StatsEntry,
  sumCounts,
  TRIGGERS,
  type Trigger,
} from "./stats.js";
export {
  allowedCpus,
  applyRouterCpus,
  pinHelperThread,
  type RouterCpus,
  routerCpus,
} from "./thread-affinity.js";
export { lowerThreadPriority, lowerV8Threads } from "./thread-priority.js";
export type * from "./types.js";
