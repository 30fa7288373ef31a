/**
 * TMA tensor maps (cuTensorMapEncodeTiled), validated in TypeScript first: the driver answers a
 * bad map with a bare CUDA_ERROR_INVALID_VALUE, so each of its documented rules is checked here
 * and reported with the rule and the value.
 */
import { ptr } from "bun:ffi";
import { checkCuda, driver } from "../ffi/cuda.ts";
import {
  TensorMapDataType,
  TensorMapFloatOobFill,
  TensorMapInterleave,
  TensorMapL2Promotion,
  TensorMapSwizzle,
} from "../ffi/cudaConstants.ts";
import { allocTensorMapStorage, TENSOR_MAP_ALIGN, TENSOR_MAP_BYTES } from "../ffi/structs.ts";
import { InvalidArgumentError } from "../errors.ts";
import { toBigInt } from "../ffi/pointer.ts";

/** Element types a tensor map can describe here (same spelling as the tensor module's DType). */
export type TensorMapDType = "e4m3" | "bf16" | "f32" | "i32" | "u8";
export type TensorMapSwizzleMode = "none" | "32B" | "64B" | "128B";
export type TensorMapInterleaveMode = "none" | "16B" | "32B";
export type TensorMapL2PromotionMode = "none" | "64B" | "128B" | "256B";

export interface TensorMapSpec {
  dtype: TensorMapDType;
  /** Device address of element [0, …, 0]; 16-byte aligned (32 with 32B interleave). */
  globalAddress: bigint;
  /** Extent of each dimension in elements, innermost (contiguous) first; rank 1..5. */
  globalDims: readonly (number | bigint)[];
  /** Byte stride of dimensions 1..rank-1 (rank-1 entries); multiples of 16, below 2^40. */
  globalStridesBytes: readonly (number | bigint)[];
  /** Box (the tile one TMA copy moves) in elements per dimension, innermost first; each 1..256. */
  boxDims: readonly number[];
  swizzle: TensorMapSwizzleMode;
  /** Traversal step per dimension, 1..8; all ones when omitted. */
  elementStrides?: readonly number[];
  /** "nan" fills out-of-bounds float elements with a NaN that WGMMA treats as zero; default "zero". */
  oobFill?: "zero" | "nan";
  interleave?: TensorMapInterleaveMode;
  /** L2 sector promotion; default "256B" (whole lines, what GEMM operand streams want). */
  l2Promotion?: TensorMapL2PromotionMode;
}

const DTYPES: Record<TensorMapDType, { code: number; bytes: number; float: boolean }> = {
  // e4m3 travels as raw bytes: TMA moves bits, and WGMMA interprets them.
  e4m3: { code: TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_UINT8, bytes: 1, float: false },
  u8: { code: TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_UINT8, bytes: 1, float: false },
  bf16: { code: TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, bytes: 2, float: true },
  f32: { code: TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_FLOAT32, bytes: 4, float: true },
  i32: { code: TensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_INT32, bytes: 4, float: false },
};
const SWIZZLES: Record<TensorMapSwizzleMode, { code: number; spanBytes: number }> = {
  none: { code: TensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_NONE, spanBytes: 0 },
  "32B": { code: TensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_32B, spanBytes: 32 },
  "64B": { code: TensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_64B, spanBytes: 64 },
  "128B": { code: TensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B, spanBytes: 128 },
};
const INTERLEAVES: Record<TensorMapInterleaveMode, number> = {
  none: TensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
  "16B": TensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_16B,
  "32B": TensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_32B,
};
const L2_PROMOTIONS: Record<TensorMapL2PromotionMode, number> = {
  none: TensorMapL2Promotion.CU_TENSOR_MAP_L2_PROMOTION_NONE,
  "64B": TensorMapL2Promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_64B,
  "128B": TensorMapL2Promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
  "256B": TensorMapL2Promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
};

const MAX_RANK = 5;
const MAX_GLOBAL_DIM = 1n << 32n;
const STRIDE_LIMIT = 1n << 40n;
const MAX_BOX_DIM = 256;
const MAX_ELEMENT_STRIDE = 8;

// Scratch arrays for the driver call, sized for the maximum rank: encoding runs per GEMM call
// when operand addresses change, so it should not allocate beyond its output.
const dimsScratch = new BigUint64Array(MAX_RANK);
const stridesScratch = new BigUint64Array(MAX_RANK);
const boxScratch = new Uint32Array(MAX_RANK);
const elementStridesScratch = new Uint32Array(MAX_RANK);

/** The spec with defaults applied and enum codes resolved; what the driver receives. */
export interface ValidatedTensorMap {
  dataType: number;
  rank: number;
  globalAddress: bigint;
  globalDims: readonly bigint[];
  globalStridesBytes: readonly bigint[];
  boxDims: readonly number[];
  elementStrides: readonly number[];
  interleave: number;
  swizzle: number;
  l2Promotion: number;
  oobFill: number;
}

/**
 * Checks every rule cuTensorMapEncodeTiled documents (cuda.h) and resolves the enums.
 * @throws InvalidArgumentError naming the rule and the offending value.
 */
export function validateTensorMap(spec: TensorMapSpec): ValidatedTensorMap {
  const dtype = DTYPES[spec.dtype];
  if (dtype === undefined) throw new InvalidArgumentError("dtype", `must be one of ${Object.keys(DTYPES).join(", ")}`, spec.dtype);
  const swizzle = SWIZZLES[spec.swizzle];
  if (swizzle === undefined) throw new InvalidArgumentError("swizzle", "must be none, 32B, 64B or 128B", spec.swizzle);
  const interleaveMode = spec.interleave ?? "none";
  const interleave = INTERLEAVES[interleaveMode];
  if (interleave === undefined) throw new InvalidArgumentError("interleave", "must be none, 16B or 32B", interleaveMode);
  const l2Promotion = L2_PROMOTIONS[spec.l2Promotion ?? "256B"];
  if (l2Promotion === undefined) throw new InvalidArgumentError("l2Promotion", "must be none, 64B, 128B or 256B", spec.l2Promotion);

  const rank = spec.globalDims.length;
  if (rank < 1 || rank > MAX_RANK) throw new InvalidArgumentError("globalDims", `rank must be 1..${MAX_RANK}`, rank);
  if (interleaveMode !== "none" && rank < 3) throw new InvalidArgumentError("globalDims", "rank must be at least 3 with interleave", rank);

  const globalAddress = toBigInt(spec.globalAddress);
  const addressAlign = interleaveMode === "32B" ? 32n : 16n;
  if (globalAddress % addressAlign !== 0n) {
    throw new InvalidArgumentError("globalAddress", `must be ${addressAlign}-byte aligned`, `0x${globalAddress.toString(16)}`);
  }

  const globalDims = spec.globalDims.map((d, i) => {
    const v = typeof d === "bigint" ? d : integerToBigInt(`globalDims[${i}]`, d);
    if (v < 1n || v > MAX_GLOBAL_DIM) throw new InvalidArgumentError(`globalDims[${i}]`, "must be in 1..2^32", v);
    return v;
  });

  if (spec.globalStridesBytes.length !== rank - 1) {
    throw new InvalidArgumentError("globalStridesBytes", `must have rank - 1 = ${rank - 1} entries`, spec.globalStridesBytes.length);
  }
  const strideAlign = interleaveMode === "32B" ? 32n : 16n;
  const globalStridesBytes = spec.globalStridesBytes.map((s, i) => {
    const v = typeof s === "bigint" ? s : integerToBigInt(`globalStridesBytes[${i}]`, s);
    if (v % strideAlign !== 0n || v <= 0n) throw new InvalidArgumentError(`globalStridesBytes[${i}]`, `must be a positive multiple of ${strideAlign} bytes`, v);
    if (v >= STRIDE_LIMIT) throw new InvalidArgumentError(`globalStridesBytes[${i}]`, "must be below 2^40", v);
    return v;
  });
  // A first stride shorter than a row means overlapping rows: almost always a stride given in
  // elements instead of bytes.
  const rowBytes = (globalDims[0] ?? 1n) * BigInt(dtype.bytes);
  const firstStride = globalStridesBytes[0];
  if (firstStride !== undefined && firstStride < rowBytes) {
    throw new InvalidArgumentError("globalStridesBytes[0]", `must be at least globalDims[0] * ${dtype.bytes} = ${rowBytes} bytes (strides are in bytes)`, firstStride);
  }

  if (spec.boxDims.length !== rank) throw new InvalidArgumentError("boxDims", `must have rank = ${rank} entries`, spec.boxDims.length);
  spec.boxDims.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1 || b > MAX_BOX_DIM) throw new InvalidArgumentError(`boxDims[${i}]`, `must be an integer in 1..${MAX_BOX_DIM}`, b);
  });
  const innerBoxBytes = (spec.boxDims[0] ?? 0) * dtype.bytes;
  if (interleaveMode === "none" && innerBoxBytes % 16 !== 0) {
    throw new InvalidArgumentError("boxDims[0]", `inner box must span a multiple of 16 bytes (boxDims[0] * ${dtype.bytes} bytes)`, spec.boxDims[0]);
  }
  if (interleaveMode === "none" && swizzle.spanBytes > 0 && innerBoxBytes > swizzle.spanBytes) {
    throw new InvalidArgumentError("boxDims[0]", `inner box (${innerBoxBytes} bytes) must fit the ${spec.swizzle} swizzle span`, spec.boxDims[0]);
  }
  if (interleaveMode === "32B" && spec.swizzle !== "32B") {
    throw new InvalidArgumentError("swizzle", "must be 32B with 32B interleave", spec.swizzle);
  }

  const elementStrides = spec.elementStrides ?? new Array<number>(rank).fill(1);
  if (elementStrides.length !== rank) throw new InvalidArgumentError("elementStrides", `must have rank = ${rank} entries`, elementStrides.length);
  elementStrides.forEach((e, i) => {
    if (!Number.isInteger(e) || e < 1 || e > MAX_ELEMENT_STRIDE) {
      throw new InvalidArgumentError(`elementStrides[${i}]`, `must be an integer in 1..${MAX_ELEMENT_STRIDE}`, e);
    }
  });

  const oobFillMode = spec.oobFill ?? "zero";
  if (oobFillMode !== "zero" && oobFillMode !== "nan") throw new InvalidArgumentError("oobFill", "must be zero or nan", oobFillMode);
  if (oobFillMode === "nan" && !dtype.float) {
    throw new InvalidArgumentError("oobFill", `"nan" needs a floating-point tensor map type (${spec.dtype} is moved as integers)`, oobFillMode);
  }
  const oobFill =
    oobFillMode === "nan"
      ? TensorMapFloatOobFill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA
      : TensorMapFloatOobFill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE;

  return {
    dataType: dtype.code,
    rank,
    globalAddress,
    globalDims,
    globalStridesBytes,
    boxDims: [...spec.boxDims],
    elementStrides: [...elementStrides],
    interleave,
    swizzle: swizzle.code,
    l2Promotion,
    oobFill,
  };
}

/**
 * Validates `spec` and encodes the tensor map into `into` (a 64-byte aligned 128-byte view, e.g.
 * `kernelArgs.tensorMapSlot(name)`), or into fresh storage. Needs a current context (Device.get).
 * @returns the 128 bytes of the map, for a `__grid_constant__ const CUtensorMap` parameter.
 * @throws InvalidArgumentError before the driver is called; CudaError if the driver still refuses.
 */
export function encodeTensorMapTiled(spec: TensorMapSpec, into?: Uint8Array): Uint8Array {
  const map = validateTensorMap(spec);
  const out = into ?? allocTensorMapStorage();
  if (out.byteLength !== TENSOR_MAP_BYTES || ptr(out) % TENSOR_MAP_ALIGN !== 0) {
    throw new InvalidArgumentError("into", `must be ${TENSOR_MAP_BYTES} bytes at a ${TENSOR_MAP_ALIGN}-byte aligned address`, out.byteLength);
  }
  for (let i = 0; i < map.rank; i++) {
    dimsScratch[i] = map.globalDims[i] ?? 0n;
    stridesScratch[i] = map.globalStridesBytes[i] ?? 0n;
    boxScratch[i] = map.boxDims[i] ?? 0;
    elementStridesScratch[i] = map.elementStrides[i] ?? 1;
  }
  const result = driver().cuTensorMapEncodeTiled(
    out,
    map.dataType,
    map.rank,
    map.globalAddress,
    dimsScratch,
    stridesScratch,
    boxScratch,
    elementStridesScratch,
    map.interleave,
    map.swizzle,
    map.l2Promotion,
    map.oobFill,
  );
  checkCuda("cuTensorMapEncodeTiled", result);
  return out;
}

/**
 * A 2D map over a row-major matrix: the common GEMM case. Same spec as encodeTensorMapTiled,
 * with rank fixed at 2 (globalDims = [cols, rows], globalStridesBytes = [rowStrideBytes],
 * boxDims = [boxCols, boxRows]).
 */
export function encodeTensorMap2d(spec: TensorMapSpec, into?: Uint8Array): Uint8Array {
  if (spec.globalDims.length !== 2) throw new InvalidArgumentError("globalDims", "a 2D map needs exactly 2 dimensions", spec.globalDims.length);
  return encodeTensorMapTiled(spec, into);
}

function integerToBigInt(argument: string, value: number): bigint {
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(argument, "must be an integer", value);
  return BigInt(value);
}
