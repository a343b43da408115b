import { type FunctionRecord, WasmletError } from "../core/index.js";
import { sendJson } from "../http/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { announceDeploy, chooseContract, functionOr404 } from "./lifecycle.js";
import { rollbackSchema } from "./package-schemas.js";
import { parseBody } from "./schemas.js";
import { memoryProblem } from "./source.js";

/**
 * POST /functions/{name}/rollback {to?}: makes an earlier version current at once (default: the newest one
 * before the current). The version list is unchanged, so a later update still gets the next free number.
 */
export async function rollbackFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const input = parseBody(rollbackSchema, await readJson(ctx.req));
  const fn = await ctx.locks.run(name, async () => {
    const old = await functionOr404(ctx.deps.store, name);
    const target =
      input.to !== undefined
        ? old.versions.find((v) => v.version === input.to)
        : old.versions.filter((v) => v.version < old.current.version).at(-1);
    if (!target)
      throw new WasmletError(
        input.to !== undefined ? "NOT_FOUND" : "CONFLICT",
        input.to !== undefined
          ? `to: function "${name}" has no version ${input.to} (it has ${old.versions.map((v) => v.version).join(", ")})`
          : `function "${name}" has no version before ${old.current.version} to roll back to`,
      );
    const problem = memoryProblem(target.initialMemoryPages ?? 0, old.limits.memoryMiB);
    if (problem)
      throw new WasmletError("INVALID_ARGUMENT", `to: version ${target.version} cannot run: ${problem}`);
    const next: FunctionRecord = {
      ...old,
      contract: chooseContract(target, undefined, old.contract),
      current: target,
      updatedAt: new Date().toISOString(),
    };
    await ctx.deps.store.update("function", name, next);
    return next;
  });
  await announceDeploy(ctx.deps, fn);
  sendJson(ctx.res, 200, fn);
}
