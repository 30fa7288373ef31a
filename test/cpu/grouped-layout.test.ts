/**
 * The contiguous MoE layout on the host (src/gemm/moeLayout.ts), checked by hand, and the GPU
 * builder's kernel compiled with nvcc (no device needed; the GPU test runs it).
 */
import { describe, expect, test } from "bun:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { M_ALIGNMENT } from "../../src/gemm/groupedShapes.ts";
import { contiguousLayout, gatherRowsFromContiguous, scatterRowsToContiguous } from "../../src/gemm/moeLayout.ts";
import { checkMIndicesBuildShape, MOE_LAYOUT_KERNEL_NAME, MOE_LAYOUT_SOURCE } from "../../src/gemm/moeLayoutKernel.ts";
import { compileOnly } from "../../src/jit/jit.ts";
import { locateNvcc, NvccCompiler } from "../../src/jit/nvccCompiler.ts";
import { readSettings } from "../../src/env.ts";
import { checkMIndices } from "../../src/gemm/groupedChecks.ts";

describe("contiguousLayout", () => {
  test("counts [0, 1, 130, 128]: segments, mTotal and padding positions by hand", () => {
    const { mTotal, segmentStarts, mIndices } = contiguousLayout([0, 1, 130, 128]);
    expect(M_ALIGNMENT).toBe(128);
    expect(mTotal).toBe(512); // 0 + 128 + 256 + 128
    expect(segmentStarts).toEqual([0, 0, 128, 384, 512]);
    expect(mIndices.length).toBe(512);
    expect(mIndices[0]).toBe(1); // expert 0 is empty: expert 1's single row comes first
    expect([...mIndices.subarray(1, 128)].every((g) => g === -1)).toBe(true);
    expect([...mIndices.subarray(128, 258)].every((g) => g === 2)).toBe(true);
    expect([...mIndices.subarray(258, 384)].every((g) => g === -1)).toBe(true);
    expect([...mIndices.subarray(384, 512)].every((g) => g === 3)).toBe(true);
    const padding = [...mIndices].filter((g) => g === -1).length;
    expect(padding).toBe(127 + 126);
    // The layout it builds passes the debug checks.
    expect(() => checkMIndices(mIndices, 4)).not.toThrow();
  });

  test("all experts empty: no rows; one expert: one padded segment", () => {
    expect(contiguousLayout([0, 0, 0])).toEqual({ mTotal: 0, segmentStarts: [0, 0, 0, 0], mIndices: new Int32Array(0) });
    const one = contiguousLayout([256]);
    expect(one.mTotal).toBe(256);
    expect([...one.mIndices].every((g) => g === 0)).toBe(true);
  });

  test("refuses negative and fractional counts, naming the expert", () => {
    expect(() => contiguousLayout([3, -1])).toThrow(InvalidArgumentError);
    expect(() => contiguousLayout([3, -1])).toThrow(/counts\[1\]/);
    expect(() => contiguousLayout([1.5])).toThrow(/non-negative integer/);
  });
});

describe("scatterRowsToContiguous / gatherRowsFromContiguous", () => {
  test("rows land at their segment's start, padding filled, and gather inverts scatter", () => {
    const counts = [2, 0, 1];
    const width = 3;
    const packed = Uint8Array.from({ length: 3 * width }, (_, i) => i + 1);
    const padded = scatterRowsToContiguous(packed, counts, width, 0xee);
    expect(padded.length).toBe(256 * width);
    expect([...padded.subarray(0, 6)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(padded[6]).toBe(0xee); // row 2 of expert 0's segment is padding
    expect([...padded.subarray(128 * width, 129 * width)]).toEqual([7, 8, 9]);
    expect(padded[129 * width]).toBe(0xee);
    const back = gatherRowsFromContiguous(padded, counts, width);
    expect(back).toBeInstanceOf(Uint8Array);
    expect([...back]).toEqual([...packed]);
  });

  test("keeps the array type (f32 scales) and refuses lengths that do not match the counts", () => {
    const scales = new Float32Array([0.5, 0.25]);
    const padded = scatterRowsToContiguous(scales, [1, 1], 1);
    expect(padded).toBeInstanceOf(Float32Array);
    expect(padded[0]).toBe(0.5);
    expect(padded[128]).toBe(0.25);
    expect(() => scatterRowsToContiguous(scales, [1, 2], 1)).toThrow(InvalidArgumentError);
    expect(() => gatherRowsFromContiguous(new Float32Array(10), [1], 1)).toThrow(/length must be 128/);
  });
});

describe("GPU mIndices builder: shape rules and kernel source", () => {
  test("numGroups in [1, 1024], mTotal a multiple of 128", () => {
    expect(checkMIndicesBuildShape({ numGroups: 1024, mTotal: 0 })).toEqual({ numGroups: 1024, mTotal: 0 });
    expect(() => checkMIndicesBuildShape({ numGroups: 0, mTotal: 128 })).toThrow(/shape.numGroups/);
    expect(() => checkMIndicesBuildShape({ numGroups: 1025, mTotal: 128 })).toThrow(/\[1, 1024\]/);
    expect(() => checkMIndicesBuildShape({ numGroups: 4, mTotal: 130 })).toThrow(/multiple of M_ALIGNMENT = 128/);
  });

  let nvcc: string | undefined;
  try {
    nvcc = locateNvcc(readSettings());
  } catch (error) {
    console.warn(`skipping the moe_layout compile test: ${error instanceof Error ? error.message : String(error)}`);
  }
  test.skipIf(nvcc === undefined)("moe_layout.cuh compiles for sm_90a with no spills", () => {
    const result = compileOnly(MOE_LAYOUT_SOURCE, MOE_LAYOUT_KERNEL_NAME, new NvccCompiler(nvcc ?? ""));
    expect(result.cubin.length).toBeGreaterThan(0);
    expect(result.log).toContain(MOE_LAYOUT_KERNEL_NAME);
    expect(result.log).toMatch(/0 bytes spill stores, 0 bytes spill loads/);
  }, 60_000);
});
