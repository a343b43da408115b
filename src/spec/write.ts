import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { API_VERSION, type SpecByKind, type SpecDocument, type SpecKind } from "./types.js";

const FILE_PREFIX: Record<SpecKind, string> = {
  Environment: "env",
  Package: "package",
  Config: "config",
  Function: "function",
  HTTPTrigger: "route",
  TimeTrigger: "timer",
  MessageQueueTrigger: "mqt",
};

/** A resource document with undefined fields left out. */
export function specDocument<K extends SpecKind>(
  kind: K,
  name: string,
  spec: SpecByKind[K],
): SpecDocument<K> {
  const clean = JSON.parse(JSON.stringify(spec)) as SpecByKind[K];
  return { apiVersion: API_VERSION, kind, metadata: { name }, spec: clean };
}

/**
 * Writes one document to `<dir>/<prefix>-<name>.yaml` (replacing an earlier one of the same resource) and
 * resolves its path. Called by `--spec` on the create commands instead of calling the API.
 */
export async function writeSpec(dir: string, doc: SpecDocument): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${FILE_PREFIX[doc.kind]}-${doc.metadata.name}.yaml`);
  await writeFile(file, stringify(doc));
  return file;
}
