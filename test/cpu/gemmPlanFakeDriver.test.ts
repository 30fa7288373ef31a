/**
 * What a dense plan hands the driver, checked against a fake libcuda (fixtures/fakeCuda.c): the
 * expect-tx byte count matches the (shrunk) boxes it encodes — a mismatch would hang the kernel — and
 * a warm call with the same buffers re-encodes no tensor map, while a strided view re-encodes only
 * its own map with its row stride.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nvccPath } from "../support/compilers.ts";

const compiler = Bun.which("gcc") ?? Bun.which("cc");
const nvcc = nvccPath();
const skip = !compiler || nvcc === undefined;
if (skip) console.warn("skipping GEMM plan fake-driver tests: needs a C compiler and nvcc");

describe.skipIf(skip)("GemmPlan against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), "bungemm-fakeplan-"));
    const lib = join(dir, "libfakecuda.so");
    const build = Bun.spawnSync([compiler as string, "-shared", "-fPIC", "-O1", "-o", lib, join(import.meta.dir, "fixtures/fakeCuda.c")]);
    if (build.exitCode !== 0) throw new Error(build.stderr.toString());
    const run = Bun.spawnSync(["bun", join(import.meta.dir, "fixtures/gemmPlanFakeRun.ts")], {
      env: { ...process.env, BUNGEMM_LIBCUDA: lib, BUNGEMM_CACHE_DIR: join(dir, "cache") },
    });
    if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    r = JSON.parse(run.stdout.toString());
  }, 120_000);

  test("the expect-tx count is the bytes of the boxes: 8 A rows, the B tile, 4 A scales", () => {
    expect(r.stageTxBytes).toBe(8 * 128 + 64 * 128 + 4 * 4);
    expect(r.planStageTxBytes).toBe(r.stageTxBytes);
  });

  test("the first call encodes the four maps; a warm call with the same buffers encodes none", () => {
    expect(r.firstEncodes).toBe(4);
    expect(r.warmEncodes).toBe(0);
  });

  test("a strided view of A re-encodes only A's map, with the view's address and row stride", () => {
    expect(r.viewEncodes).toBe(1);
    expect(r.viewMap).toEqual({ address: true, stride: 256 + 64, boxRows: 8 });
  });
});
