// The dashboard served by the control port at /ui: its page, its event stream, and the traffic sampler behind it.
export { UI_PATH, type UiOptions, uiFront } from "./front.js";
export { quantileMs, TrafficSampler, type TrafficSummary } from "./sampler.js";
