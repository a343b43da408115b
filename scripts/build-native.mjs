// npm's install step: builds native/ (malloc-tune.c, sha256-async.c, populate.c) with the node-gyp npm ships (from source, against the
// machine's node headers, like better-sqlite3). Optional: without a compiler the server runs without it.
import { spawnSync } from "node:child_process";

const gyp = process.env.npm_config_node_gyp;
const args = gyp ? [gyp, "rebuild"] : null;
const r = args ? spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] }) : null;
if (r?.status !== 0)
  console.warn(
    "wasmlet: the optional malloc tuning addon was not built (needs python3, make and a C compiler);" +
      " the server runs without it but may keep freed memory from the OS and hashes large layers on its request thread",
  );
