import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** The bundled examples `npm start` deploys, with the routes to reach them. */
const EXAMPLES = [
  {
    fn: { name: "hello", contract: "command", args: ["20000"], file: "hello/hello.wasm" },
    route: { name: "hello", function: "hello", url: "/hello", methods: ["GET", "POST"] },
    curl: (base: string) => `curl ${base}/hello`,
  },
  {
    fn: { name: "echo", contract: "wagi", env: { GREETING: "hi" }, file: "wagi-echo/echo.wasm" },
    route: { name: "echo", function: "echo", prefix: "/echo", methods: ["GET", "POST"] },
    curl: (base: string) => `curl -d abc '${base}/echo/x?y=1'`,
  },
  {
    fn: { name: "as-hello", contract: "command", file: "as-hello/hello.wasm" },
    route: { name: "as-hello", function: "as-hello", url: "/as-hello", methods: ["GET", "POST"] },
    curl: (base: string) => `curl -d 'from curl' ${base}/as-hello`,
  },
  {
    // A wasi:http/proxy component (componentize-js): the contract http follows from its world.
    fn: { name: "http-hello", contract: "http", file: "http-hello/hello.wasm" },
    route: { name: "http-hello", function: "http-hello", prefix: "/http-hello", methods: ["GET", "POST"] },
    curl: (base: string) => `curl -H 'x-hello: you' '${base}/http-hello/x?y=1'`,
  },
  {
    // A wasi:cli/command component (jco new --wasi-command over examples/hello): runs as a command.
    fn: {
      name: "cli-hello",
      contract: "command",
      args: ["from", "a", "component"],
      file: "cli-hello/hello.wasm",
    },
    route: { name: "cli-hello", function: "cli-hello", url: "/cli-hello", methods: ["GET", "POST"] },
    curl: (base: string) => `curl ${base}/cli-hello`,
  },
] as const;

/** Examples live at the package root, next to dist/. */
const EXAMPLES_DIR = fileURLToPath(new URL("../../../examples/", import.meta.url));

/**
 * Deploys the bundled examples through the control API (as a user would with the CLI), skipping those that
 * already exist, and returns the commands to call them.
 */
export async function deployExamples(
  controlUrl: string,
  routerUrl: string,
  token?: string,
): Promise<string[]> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const lines: string[] = [];
  for (const ex of EXAMPLES) {
    const { file, ...fn } = ex.fn;
    const exists = await fetch(`${controlUrl}/api/v1/functions/${fn.name}`, { headers });
    if (exists.status === 404) {
      const code = (await readFile(`${EXAMPLES_DIR}${file}`)).toString("base64");
      const r = await fetch(`${controlUrl}/api/v1/functions`, {
        method: "POST",
        headers,
        body: JSON.stringify({ ...fn, code, fileName: file.split("/").pop() }),
      });
      if (!r.ok) throw new Error(`cannot deploy example ${fn.name}: ${await r.text()}`);
    }
    const route = await fetch(`${controlUrl}/api/v1/triggers/http/${ex.route.name}`, { headers });
    if (route.status === 404) {
      const r = await fetch(`${controlUrl}/api/v1/triggers/http`, {
        method: "POST",
        headers,
        body: JSON.stringify(ex.route),
      });
      if (!r.ok) throw new Error(`cannot create route ${ex.route.name}: ${await r.text()}`);
    }
    lines.push(ex.curl(routerUrl));
  }
  return lines;
}
