export { ClientConnection, OutputBudget, sendResponse } from "./respond.js";
export { type Lookup, type RouteMatch, RouteTable } from "./route-table.js";
export { type Invoker, Router, type RouterOptions } from "./router.js";
