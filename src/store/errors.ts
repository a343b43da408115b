import { WasmletError } from "../core/index.js";
import type { Kind } from "./types.js";

const KIND_LABEL: Record<Kind, string> = {
  function: "function",
  httptrigger: "HTTP trigger",
  timetrigger: "time trigger",
  mqtrigger: "message queue trigger",
  package: "package",
  environment: "environment",
  specdeployment: "spec deployment",
  canary: "canary",
  secret: "secret",
  config: "config",
};

export function alreadyExists(kind: Kind, name: string): WasmletError {
  return new WasmletError("ALREADY_EXISTS", `${KIND_LABEL[kind]} "${name}" already exists`);
}

export function notFound(kind: Kind, name: string): WasmletError {
  return new WasmletError("NOT_FOUND", `${KIND_LABEL[kind]} "${name}" not found`);
}

export function closed(): WasmletError {
  return new WasmletError("UNAVAILABLE", "the state store is closed");
}

/** Clamps a readLogs limit into [1, max]; the default is 100. */
export function logLimit(limit: number | undefined, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return Math.min(100, max);
  return Math.max(1, Math.min(max, Math.floor(limit)));
}
