import type { ControlFront } from "../api/index.js";
import { WasmletError } from "../core/index.js";
import { methodNotAllowed, refuseWithoutToken, sendError, sendJson } from "../http/index.js";
import type { NodeInfo } from "../store/index.js";

const NODES_PATH = "/api/v1/nodes";

/** `GET /api/v1/nodes` on the control port of a node on etcd: the nodes whose lease is alive. */
export function nodesFront(opts: { list: () => Promise<NodeInfo[]>; token?: string }): ControlFront {
  return {
    handle(req, res) {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== NODES_PATH) return false;
      if (refuseWithoutToken(req, res, opts.token)) return true;
      if (req.method !== "GET") {
        sendError(req, res, methodNotAllowed(req.method ?? "", NODES_PATH, ["GET"]), {
          status: 405,
          headers: { allow: "GET" },
        });
        return true;
      }
      opts.list().then(
        (items) => sendJson(res, 200, { items }),
        (e) =>
          sendError(
            req,
            res,
            new WasmletError("UNAVAILABLE", `cannot list nodes: ${e instanceof Error ? e.message : e}`),
          ),
      );
      return true;
    },
  };
}
