import { describe, expect, test } from "bun:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { TensorMapDataType, TensorMapSwizzle } from "../../src/ffi/cudaConstants.ts";
import { validateTensorMap, type TensorMapSpec } from "../../src/runtime/tensorMap.ts";

/** The A operand of a GEMM: e4m3 [M=256, K=1024] row-major, a 64 x 128 box, 128-byte swizzle. */
const base: TensorMapSpec = {
  dtype: "e4m3",
  globalAddress: 0x7f00_0000_0000n,
  globalDims: [1024, 256],
  globalStridesBytes: [1024],
  boxDims: [128, 64],
  swizzle: "128B",
};

function rejects(change: Partial<TensorMapSpec>, argument: string, rule: RegExp): void {
  let error: unknown;
  try {
    validateTensorMap({ ...base, ...change });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidArgumentError);
  const e = error as InvalidArgumentError;
  expect(e.argument).toBe(argument);
  expect(e.rule).toMatch(rule);
}

describe("validateTensorMap", () => {
  test("a 2D e4m3 128B-swizzled operand map resolves to the driver's enums", () => {
    const map = validateTensorMap(base);
    expect(map.dataType).toBe(TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_UINT8);
    expect(map.swizzle).toBe(TensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B);
    expect(map.rank).toBe(2);
    expect(map.globalDims).toEqual([1024n, 256n]);
    expect(map.elementStrides).toEqual([1, 1]);
  });

  test("address alignment: 16 bytes, 32 with 32B interleave", () => {
    rejects({ globalAddress: 0x7f00_0000_0008n }, "globalAddress", /16-byte aligned/);
    rejects(
      { globalAddress: 0x7f00_0000_0010n, interleave: "32B", swizzle: "32B", globalDims: [16, 4, 4], globalStridesBytes: [32, 128], boxDims: [16, 4, 4] },
      "globalAddress",
      /32-byte aligned/,
    );
  });

  test("strides: multiple of 16, below 2^40, rank-1 entries, not shorter than a row", () => {
    rejects({ globalStridesBytes: [1032] }, "globalStridesBytes[0]", /multiple of 16/);
    rejects({ globalStridesBytes: [2n ** 40n] }, "globalStridesBytes[0]", /below 2\^40/);
    rejects({ globalStridesBytes: [] }, "globalStridesBytes", /rank - 1 = 1 entries/);
    rejects({ dtype: "bf16", globalStridesBytes: [1024] }, "globalStridesBytes[0]", /at least globalDims\[0\] \* 2 = 2048/);
  });

  test("box: 1..256 per dimension, inner box 16-byte multiple and within the swizzle span", () => {
    rejects({ boxDims: [128, 512] }, "boxDims[1]", /1\.\.256/);
    rejects({ boxDims: [0, 64] }, "boxDims[0]", /1\.\.256/);
    rejects({ boxDims: [8, 64], swizzle: "none" }, "boxDims[0]", /multiple of 16 bytes/);
    rejects({ dtype: "bf16", globalStridesBytes: [2048], boxDims: [128, 64] }, "boxDims[0]", /256 bytes\) must fit the 128B swizzle span/);
    rejects({ boxDims: [64, 64], swizzle: "32B" }, "boxDims[0]", /32B swizzle span/);
  });

  test("rank 1..5, element strides 1..8, NaN fill only for float types", () => {
    rejects({ globalDims: [], globalStridesBytes: [], boxDims: [] }, "globalDims", /rank must be 1\.\.5/);
    rejects(
      { globalDims: [16, 2, 2, 2, 2, 2], globalStridesBytes: [16, 32, 64, 128, 256], boxDims: [16, 1, 1, 1, 1, 1] },
      "globalDims",
      /rank must be 1\.\.5/,
    );
    rejects({ elementStrides: [1, 9] }, "elementStrides[1]", /1\.\.8/);
    rejects({ oobFill: "nan" }, "oobFill", /floating-point/);
    expect(validateTensorMap({ ...base, dtype: "bf16", globalStridesBytes: [2048], boxDims: [64, 64], oobFill: "nan" }).oobFill).toBe(1);
  });

  test("dimension extents must be 1..2^32", () => {
    rejects({ globalDims: [1024, 0] }, "globalDims[1]", /1\.\.2\^32/);
    rejects({ globalDims: [2n ** 32n + 1n, 1] }, "globalDims[0]", /1\.\.2\^32/);
  });
});
