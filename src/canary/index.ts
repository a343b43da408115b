// Canary releases: the controller that moves a route's weights by the new function's failure rate.
export { CanaryController, type CanaryControllerOptions } from "./controller.js";
