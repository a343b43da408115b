// The Kubernetes schemas as kubernetes-models publishes them, by apiVersion and kind: what the tests of
// `fn manifest` and of deploy/kubernetes validate every object with.

/** A model class: `new M(data).validate()` throws naming the first fields that break the schema. */
type ModelClass = new (data: object) => { validate(): void };

/** The package that holds a group's models: the core API in kubernetes-models, CRDs in their own. */
function packageOf(group: string): string {
  if (group === "keda.sh") return "@kubernetes-models/keda";
  if (group === "gateway.networking.k8s.io") return "@kubernetes-models/gateway-api";
  return "kubernetes-models";
}

/** The model of `apiVersion`/`kind`; throws naming both when no package has one. */
export async function modelOf(apiVersion: string, kind: string): Promise<ModelClass> {
  if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    throw new Error(`"${apiVersion}" "${kind}" is not an apiVersion and a kind`);
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  let mod: Record<string, unknown>;
  try {
    mod = await import(`${packageOf(group)}/${apiVersion}/${kind}`);
  } catch (e) {
    throw new Error(`no schema for ${apiVersion} ${kind}: ${(e as Error).message}`);
  }
  const model = mod[kind];
  if (typeof model !== "function") throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model as ModelClass;
}

/** Validates a parsed object against the schema of its apiVersion and kind; throws naming them and the fields. */
export async function validateObject(obj: { apiVersion?: unknown; kind?: unknown }): Promise<void> {
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
    throw new Error("the object has no apiVersion or kind");
  const model = await modelOf(obj.apiVersion, obj.kind);
  try {
    new model(obj).validate();
  } catch (e) {
    throw new Error(`${obj.apiVersion} ${obj.kind}: ${(e as Error).message}`);
  }
}
