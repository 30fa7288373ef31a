/**
 * The bring-up kernels (cuda/bungemm/test/) compile with NVCC for sm_90a without a GPU and without
 * spills, and the host-side expectations the GPU test checks against encode the swizzle the GEMM
 * relies on. Skips the compile checks, saying why, where nvcc is absent.
 */
import { describe, expect, test } from "bun:test";
import { compileOnly } from "../../src/jit/jit.ts";
import { NvccCompiler } from "../../src/jit/nvccCompiler.ts";
import {
  TMA_VARIANTS,
  clusterRankSource,
  clusterToken,
  expectedClusterRecord,
  expectedRawTile,
  swizzledOffset,
  tmaTileCopySource,
  type TmaTileCopyVariant,
} from "../support/bringupKernels.ts";
import { nvccPath } from "../support/compilers.ts";

const nvcc = nvccPath();
if (nvcc === undefined) console.warn("skipping bring-up kernel compiles: nvcc not found (set BUNGEMM_NVCC or CUDA_HOME)");

const SWIZZLED: TmaTileCopyVariant = { boxCols: 128, boxRows: 64, swizzle: "128B" };

describe.skipIf(nvcc === undefined)("bring-up kernels compile with NVCC for sm_90a", () => {
  const compiler = new NvccCompiler(nvcc ?? "");
  const kernels = [...TMA_VARIANTS.map(tmaTileCopySource), clusterRankSource()];

  for (const kernel of kernels) {
    test(`${kernel.name}: cubin, entry reported, no spills, no stack`, () => {
      const result = compileOnly(kernel.source, kernel.name, compiler);
      expect(result.cubin.byteLength).toBeGreaterThan(0);
      const entry = result.resources?.find((f) => f.name === kernel.name);
      expect(entry?.entry).toBe(true);
      for (const fn of result.resources ?? []) {
        expect({ name: fn.name, spillStores: fn.spillStores, spillLoads: fn.spillLoads, stack: fn.stackFrameBytes }).toEqual({
          name: fn.name,
          spillStores: 0,
          spillLoads: 0,
          stack: 0,
        });
      }
    }, 120_000);
  }
});

describe("bring-up expectations (host side)", () => {
  test("128B swizzle: 16-byte chunk index XOR row % 8, bytes within a chunk kept", () => {
    // Row 0 is the identity; row 5 swaps chunk 0 with 5, 1 with 4, ...; row 8 repeats row 0.
    expect(swizzledOffset(SWIZZLED, 0, 37)).toBe(37);
    expect(swizzledOffset(SWIZZLED, 5, 3)).toBe(5 * 128 + 5 * 16 + 3);
    expect(swizzledOffset(SWIZZLED, 5, 5 * 16 + 9)).toBe(5 * 128 + 9);
    expect(swizzledOffset(SWIZZLED, 8, 37)).toBe(8 * 128 + 37);
    expect(swizzledOffset(SWIZZLED, 15, 127)).toBe(15 * 128 + ((7 ^ 7) * 16 + 15));
  });

  test("the swizzle is a permutation of each 128-byte row", () => {
    for (let row = 0; row < 16; row++) {
      const seen = new Set<number>();
      for (let col = 0; col < 128; col++) seen.add(swizzledOffset(SWIZZLED, row, col) - row * 128);
      expect(seen.size).toBe(128);
      expect(Math.min(...seen)).toBe(0);
      expect(Math.max(...seen)).toBe(127);
    }
  });

  test("expected raw tile: input at swizzled offsets, zero outside the matrix", () => {
    const rows = 70;
    const cols = 144;
    const input = Uint8Array.from({ length: rows * cols }, (_, i) => (i % 251) + 1);
    const tile = expectedRawTile(SWIZZLED, input, rows, cols, 1, 1);
    // Box (1, 1) starts at row 64, column 128: rows 64..69 and columns 128..143 exist.
    expect(tile[swizzledOffset(SWIZZLED, 0, 0)]).toBe(input[64 * cols + 128]);
    expect(tile[swizzledOffset(SWIZZLED, 3, 15)]).toBe(input[67 * cols + 143]);
    expect(tile[swizzledOffset(SWIZZLED, 3, 16)]).toBe(0);
    expect(tile[swizzledOffset(SWIZZLED, 6, 0)]).toBe(0);
  });

  test("cluster records: rank, cluster id and count, and the next CTA's token", () => {
    expect(expectedClusterRecord(8, 2, 7, 5)).toEqual([1, 2, 4, 2, clusterToken(7, 4), 5]);
    expect(expectedClusterRecord(8, 4, 7, 6)).toEqual([2, 1, 2, 4, clusterToken(7, 7), 6]);
    expect(expectedClusterRecord(8, 4, 7, 7)[4]).toBe(clusterToken(7, 4));
    expect(clusterToken(0xffffffff, 3)).toBe((0xffffffff ^ Math.imul(3, 0x9e3779b9)) >>> 0);
  });
});
