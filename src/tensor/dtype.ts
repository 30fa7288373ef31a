/**
 * The element types bungemm tensors hold. FP8 and BF16 are stored as raw bit patterns
 * (Uint8Array / Uint16Array on the host); see fp8.ts and bf16.ts for the conversions.
 */

/** Element type of a tensor: FP8 e4m3fn codes, BF16 bits, IEEE f32, or i32 indices. */
export type DType = "e4m3" | "bf16" | "f32" | "i32";

/** Every dtype, in a fixed order (for validation messages and schemas). */
export const DTYPES: readonly DType[] = ["e4m3", "bf16", "f32", "i32"];

const BYTES: Record<DType, number> = { e4m3: 1, bf16: 2, f32: 4, i32: 4 };

/** Size of one element of `dtype` in bytes. */
export function dtypeBytes(dtype: DType): number {
  return BYTES[dtype];
}

/** The host typed array that holds elements of each dtype (bit patterns for e4m3 and bf16). */
export interface HostArrayOf {
  e4m3: Uint8Array;
  bf16: Uint16Array;
  f32: Float32Array;
  i32: Int32Array;
}

/** Any host array a tensor can be read into or filled from. */
export type HostArray = HostArrayOf[DType];

/** Allocates a zeroed host array of `length` elements of `dtype`. */
export function allocHostArray<D extends DType>(dtype: D, length: number): HostArrayOf[D] {
  switch (dtype) {
    case "e4m3":
      return new Uint8Array(length) as HostArrayOf[D];
    case "bf16":
      return new Uint16Array(length) as HostArrayOf[D];
    case "f32":
      return new Float32Array(length) as HostArrayOf[D];
    case "i32":
      return new Int32Array(length) as HostArrayOf[D];
  }
  throw new Error(`unreachable dtype ${String(dtype)}`);
}
