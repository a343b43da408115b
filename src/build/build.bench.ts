// Build time of the hello samples, for bench/ (which prints it next to the other benchmarks).
import { BUILDERS } from "./index.js";
import { SAMPLES } from "./test-support.js";

export interface BuildBench {
  /** Wall time of one C hello build in ms, including clang's start; undefined when clang is missing. */
  c?: number;
  /** Wall time of one AssemblyScript hello build in ms, including node + asc start-up. */
  assemblyscript: number;
}

/** Builds each hello `runs` times (after one warm-up that also detects the toolchain) and keeps the median. */
export async function benchBuilds(runs = 3): Promise<BuildBench> {
  const median = async (build: () => Promise<unknown>): Promise<number> => {
    await build();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await build();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return Math.round(times[Math.floor(times.length / 2)]!);
  };
  const assemblyscript = await median(() =>
    BUILDERS.assemblyscript.build({ files: SAMPLES.assemblyscript.hello }),
  );
  const c = (await BUILDERS.c.detect()).ok
    ? await median(() => BUILDERS.c.build({ files: SAMPLES.c.hello }))
    : undefined;
  return { c, assemblyscript };
}
