import { AssemblyScriptBuilder } from "./assemblyscript-builder.js";
import { runBuilderContract } from "./builder.contract.js";
import { CBuilder } from "./c-builder.js";
import { RustBuilder } from "./rust-builder.js";
import { SAMPLES } from "./test-support.js";

await runBuilderContract((o) => new AssemblyScriptBuilder(o), SAMPLES.assemblyscript, { required: true });
await runBuilderContract((o) => new CBuilder(o), SAMPLES.c, { required: false });
await runBuilderContract((o) => new RustBuilder(o), SAMPLES.rust, { required: false });
