/**
 * The GPU test files' gate (test/support/gpuGate.ts), run where there is no usable GPU: their
 * suites skip and say why, unless BUNGEMM_REQUIRE_GPU=1 (the GPU machine's setting), which turns
 * the skip into a failing test. Each case runs one GPU test file in a fresh `bun test`.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { hopperGpuStatus } from "../support/gpuGate.ts";

const root = join(import.meta.dir, "..", "..");
const here = hopperGpuStatus();

function runGpuFile(required: boolean): { exitCode: number; output: string } {
  const env: Record<string, string | undefined> = { ...process.env, BUNGEMM_REQUIRE_GPU: required ? "1" : undefined };
  const run = Bun.spawnSync([process.execPath, "test", "test/gpu/runtime.test.ts"], { cwd: root, env });
  return { exitCode: run.exitCode ?? -1, output: run.stdout.toString() + run.stderr.toString() };
}

describe.skipIf(here.ok)("GPU test gate without a usable GPU (this machine)", () => {
  test("by default the GPU suites skip and print why", () => {
    const { exitCode, output } = runGpuFile(false);
    expect(exitCode).toBe(0);
    expect(output).toContain("skipping GPU runtime tests: ");
    expect(output).toMatch(/\b0 fail\b/);
    expect(output).not.toMatch(/\b0 skip\b/);
  }, 60_000);

  test("with BUNGEMM_REQUIRE_GPU=1 the same file fails, naming the reason", () => {
    const { exitCode, output } = runGpuFile(true);
    expect(exitCode).not.toBe(0);
    expect(output).toContain("GPU runtime tests: a Hopper GPU is required here (BUNGEMM_REQUIRE_GPU=1)");
    expect(output).toContain(`cannot run the GPU runtime tests: ${here.ok ? "" : here.reason}`);
    expect(output).toMatch(/\b1 fail\b/);
  }, 60_000);
});
