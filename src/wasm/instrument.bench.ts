// Micro benchmark of the rewrite on the prepare path (not a test): bench/ calls benchInstrument().
import { readFileSync } from "node:fs";
import { instrumentModule } from "./instrument.js";

const FIXTURE = new URL("../../../src/wasm/fixtures/hello.wasm", import.meta.url);

/**
 * Microseconds per `instrumentModule` call (validation and inspection included) on the clang-built
 * fixture (about 21 KB), or on `module` when given; measured after a warm-up so the JIT has settled.
 */
export function benchInstrument(module?: Uint8Array, iterations = 300): number {
  const bytes = module ?? new Uint8Array(readFileSync(FIXTURE));
  for (let i = 0; i < 30; i++) instrumentModule(bytes, { maxMemoryPages: 1024 });
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) instrumentModule(bytes, { maxMemoryPages: 1024 });
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}
