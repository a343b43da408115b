// The OCI distribution-spec v1.1 conformance suite (its own ginkgo tests, built as a binary, kept outside the
// repository in ../shared/tools/oci-conformance/) against a real `wasmlet serve`: pull, push, content discovery
// and content management, cross-repository mounts included. Skipped when the binary is not there.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { ROOT, startServer } from "./harness.js";

const BINARY = join(ROOT, "../shared/tools/oci-conformance/conformance.test");
const skip = existsSync(BINARY) ? false : `the conformance binary is not at ${BINARY}`;

/** Counts of the junit report's test cases by status (passed, failed, error, skipped). */
function countByStatus(junit: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of junit.matchAll(/<testcase\b[^>]*\bstatus="([a-z]+)"/g))
    counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  return counts;
}

/** The names of the failed cases with their messages, for the assertion's text. */
function failures(junit: string): string {
  return [
    ...junit.matchAll(
      /<testcase\b[^>]*\bname="([^"]*)"[^>]*\bstatus="(?:failed|error)"[\s\S]*?<\/testcase>/g,
    ),
  ]
    .map((m) => m[1])
    .join("\n");
}

test("the OCI distribution-spec v1.1 conformance suite passes against the embedded registry", {
  skip,
}, async () => {
  const server = await startServer();
  const out = mkdtempSync(join(tmpdir(), "wasmlet-oci-conformance-"));
  try {
    // The settings of shared/tools/oci-conformance/run.sh: every workflow, a second namespace for mounts.
    const env = {
      ...process.env,
      OCI_ROOT_URL: server.controlUrl,
      OCI_NAMESPACE: "conformance/repo",
      OCI_CROSSMOUNT_NAMESPACE: "conformance/other",
      OCI_TEST_PULL: "1",
      OCI_TEST_PUSH: "1",
      OCI_TEST_CONTENT_DISCOVERY: "1",
      OCI_TEST_CONTENT_MANAGEMENT: "1",
      OCI_AUTOMATIC_CROSSMOUNT: "1",
      OCI_DELETE_MANIFEST_BEFORE_BLOBS: "1",
      OCI_HIDE_SKIPPED_WORKFLOWS: "0",
      OCI_DEBUG: "0",
    };
    // The binary exits non-zero when a case fails; the report says which, so read it either way.
    await promisify(execFile)(BINARY, [], {
      cwd: out,
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    }).catch(() => {});
    const junit = readFileSync(join(out, "junit.xml"), "utf8");
    const counts = countByStatus(junit);
    assert.ok((counts.passed ?? 0) >= 70, `the suite ran: ${JSON.stringify(counts)}`);
    assert.equal((counts.failed ?? 0) + (counts.error ?? 0), 0, `failed cases:\n${failures(junit)}`);
  } finally {
    await server.stop();
    rmSync(out, { recursive: true, force: true });
  }
});
