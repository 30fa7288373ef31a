/**
 * "Proof on the H200": the bring-up kernels of cuda/bungemm/test/, compiled through NVRTC (set
 * explicitly, so this proves the in-process compiler rather than whichever backend `auto` picks),
 * loaded with getKernel and checked element by element on fresh random data with poisoned outputs:
 * - TMA: 2-D boxes global -> shared on an mbarrier, with and without the 128-byte swizzle, edge
 *   boxes hanging over the matrix; the raw shared layout, a de-swizzled plain-store copy and a TMA
 *   store copy are each checked.
 * - Clusters: %cluster_ctarank, %clusterid.x, %nclusterid.x, and a DSMEM read of the peer's shared
 *   memory (mapa + ld.shared::cluster) after a cluster barrier.
 * Skips, saying why, where there is no CUDA device.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forgetLoadedKernels, getKernel, jitStats, resetJitStats, useCompiler } from "../../src/jit/jit.ts";
import { CompileError, NvrtcError } from "../../src/errors.ts";
import { NvrtcCompiler } from "../../src/jit/nvrtcCompiler.ts";
import { Device } from "../../src/runtime/device.ts";
import { Stream } from "../../src/runtime/stream.ts";
import {
  CLUSTER_RANK_WORDS,
  TMA_VARIANTS,
  expectedClusterRecord,
  expectedRawTile,
  isBringupKernel,
  type TmaTileCopyVariant,
} from "../support/bringupKernels.ts";
import { ClusterRankLaunch, runTmaTileCopy } from "../support/bringupRun.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("foundation GPU tests");

/** Positions where `actual` differs from `expected`, at most `limit` of them, for a readable failure. */
function mismatches(actual: Uint8Array, expected: Uint8Array, limit = 8): { index: number; actual: number; expected: number }[] {
  const out: { index: number; actual: number; expected: number }[] = [];
  for (let i = 0; i < expected.length && out.length < limit; i++) {
    if (actual[i] !== expected[i]) out.push({ index: i, actual: actual[i] ?? -1, expected: expected[i] ?? -1 });
  }
  return out;
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A matrix of whole boxes plus a partial one in each direction, so edge boxes hang over it. */
function matrixFor(v: TmaTileCopyVariant): { rows: number; cols: number } {
  return { rows: 2 * v.boxRows + 5, cols: 2 * v.boxCols + 48 };
}

describe.skipIf(!gpu.ok)("foundation on a CUDA device (NVRTC)", () => {
  let cacheDir = "";
  let savedCacheDir: string | undefined;
  let stream!: Stream;

  beforeAll(() => {
    // A fresh cache folder: the first getKernel of each kernel is a real NVRTC compile.
    savedCacheDir = process.env.BUNGEMM_CACHE_DIR;
    cacheDir = mkdtempSync(join(tmpdir(), "bungemm-foundation-"));
    process.env.BUNGEMM_CACHE_DIR = cacheDir;
    useCompiler(new NvrtcCompiler());
    stream = Stream.create(Device.get(0));
  });

  afterAll(() => {
    stream?.dispose();
    // Only ours: plans cached by other test files keep their kernels.
    forgetLoadedKernels(undefined, isBringupKernel);
    useCompiler(undefined);
    if (savedCacheDir === undefined) delete process.env.BUNGEMM_CACHE_DIR;
    else process.env.BUNGEMM_CACHE_DIR = savedCacheDir;
    rmSync(cacheDir, { recursive: true, force: true });
  });

  for (const variant of TMA_VARIANTS) {
    test(`TMA tile copy ${variant.boxCols}x${variant.boxRows} swizzle ${variant.swizzle}: raw layout, de-swizzled copy, TMA store`, () => {
      const device = Device.get(0);
      const { rows, cols } = matrixFor(variant);
      const input = randomBytes(rows * cols);
      resetJitStats();
      const out = runTmaTileCopy(device, variant, input, rows, cols, stream);
      // The cache folder is fresh: this launch ran a kernel NVRTC had just compiled.
      expect(jitStats().misses).toBe(1);

      expect(out.grid).toEqual([3, 3]);
      const tileBytes = variant.boxCols * variant.boxRows;
      for (let by = 0; by < out.grid[1]; by++) {
        for (let bx = 0; bx < out.grid[0]; bx++) {
          const start = (by * out.grid[0] + bx) * tileBytes;
          const raw = out.raw.subarray(start, start + tileBytes);
          expect({ cta: [bx, by], mismatches: mismatches(raw, expectedRawTile(variant, input, rows, cols, bx, by)) }).toEqual({
            cta: [bx, by],
            mismatches: [],
          });
        }
      }
      expect({ copy: mismatches(out.copy, input) }).toEqual({ copy: [] });
      expect({ tmaStore: mismatches(out.tmaStore, input) }).toEqual({ tmaStore: [] });
    });
  }

  test("a source NVRTC rejects: CompileError carrying NVRTC's log and an NvrtcError cause; nothing is cached or loaded", () => {
    const device = Device.get(0);
    const name = "bungemm_test_rejected_by_nvrtc";
    const source = `extern "C" __global__ void ${name}(int* out) { *out = bungemm_undeclared_name; }\n`;
    const entriesBefore = readdirSync(cacheDir, { recursive: true }).length;
    let caught: unknown;
    try {
      getKernel(device, { name, source });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CompileError);
    const error = caught as CompileError;
    expect(error.backend).toBe("nvrtc");
    expect(error.kernelName).toBe(name);
    expect(error.log).toContain("bungemm_undeclared_name");
    expect(error.cause).toBeInstanceOf(NvrtcError);
    expect((error.cause as NvrtcError).codeName).toBe("NVRTC_ERROR_COMPILATION");
    expect(readdirSync(cacheDir, { recursive: true }).length).toBe(entriesBefore);
    // The same call fails the same way again (no half-made entry turns it into a cache hit).
    expect(() => getKernel(device, { name, source })).toThrow(CompileError);
  });

  test("the 128B-swizzled raw tile really is permuted (not a plain copy)", () => {
    const variant = TMA_VARIANTS.find((v) => v.swizzle === "128B");
    expect(variant).toBeDefined();
    if (variant === undefined) return;
    const { rows, cols } = matrixFor(variant);
    const input = randomBytes(rows * cols);
    const out = runTmaTileCopy(Device.get(0), variant, input, rows, cols, stream);
    // Row 1 of box (0, 0): chunk 0 holds global bytes 16..31 of row 1.
    expect([...out.raw.subarray(128, 144)]).toEqual([...input.subarray(cols + 16, cols + 32)]);
  });

  for (const clusterX of [2, 4]) {
    test(`clusters of ${clusterX}: rank, cluster id/count, DSMEM read of the next CTA's shared memory`, () => {
      const device = Device.get(0);
      const gridX = 16;
      using launch = new ClusterRankLaunch(device, gridX, clusterX);
      const seed = crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
      const words = launch.run(seed, stream);
      const expected: number[] = [];
      for (let block = 0; block < gridX; block++) expected.push(...expectedClusterRecord(gridX, clusterX, seed, block));
      expect(words.length).toBe(gridX * CLUSTER_RANK_WORDS);
      expect([...words]).toEqual(expected);
    });
  }

  test("NVRTC compiled, then a fresh in-memory map loads the same kernel from the disk cache", () => {
    const device = Device.get(0);
    using launch = new ClusterRankLaunch(device, 2, 2);
    launch.run(12345, stream);
    forgetLoadedKernels(device, isBringupKernel);
    resetJitStats();
    const words = launch.run(54321, stream);
    expect(jitStats().diskHits).toBe(1);
    expect(jitStats().misses).toBe(0);
    expect([...words]).toEqual([...expectedClusterRecord(2, 2, 54321, 0), ...expectedClusterRecord(2, 2, 54321, 1)]);
  });
});
