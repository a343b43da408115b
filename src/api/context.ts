import type { IncomingMessage, ServerResponse } from "node:http";
import type { PackageBuilds } from "./builds.js";
import type { ApiDeps } from "./deps.js";
import type { KeyedLock } from "./keyed-lock.js";

/** What a route handler gets for one request. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  deps: ApiDeps;
  /** Captured path parts: the resource name, then (for invoke) the rest of the path. */
  params: string[];
  /** The raw query string, without `?`. */
  rawQuery: string;
  /** Per-function-name lock for read-modify-write sequences. */
  locks: KeyedLock;
  /** Starts package builds in the background and binds their images to functions. */
  builds: PackageBuilds;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void>;

/** What the handlers of invocation records and logs use: all a `--role router` node's control port has. */
export type RecordsDeps = Pick<ApiDeps, "store" | "token" | "cluster" | "log">;

/** The context of a records handler; a RouteContext is one. */
export interface RecordsContext {
  req: IncomingMessage;
  res: ServerResponse;
  deps: RecordsDeps;
  params: string[];
  rawQuery: string;
}

export type RecordsHandler = (ctx: RecordsContext) => Promise<void>;
