// Debian's docker-registry (distribution v2) and skopeo for the end-to-end tests.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { DOCKER_REGISTRY } from "../../src/registry/test-support.js";

// One docker-registry launcher for the unit and end-to-end tests and the benchmark.
export {
  DOCKER_REGISTRY,
  type DockerRegistry,
  freePort,
  startDockerRegistry,
} from "../../src/registry/test-support.js";

export const SKOPEO = "/usr/bin/skopeo";

export const hasDockerRegistry = () => existsSync(DOCKER_REGISTRY);
export const hasSkopeo = () => existsSync(SKOPEO);

/** Runs skopeo with TLS verification off (loopback registries speak plain HTTP). */
export function skopeo(...args: string[]): string {
  return execFileSync(SKOPEO, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
