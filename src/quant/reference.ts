/**
 * CPU reference quantizers, bit for bit what the GPU kernels in cuda/bungemm/quant.cuh compute
 * (docs/quantization.md states the policy; tests compare the two exactly).
 *
 * For one block of values x (a 1x128 strip of A, or a 128x128 block of B; edge blocks are smaller):
 *   amax  = max |x| over the block's finite values (NaN and ±Inf ignored), then max(amax, AMAX_FLOOR)
 *   scale = f32(amax / 448)                       -- one correctly rounded f32 division
 *   code  = e4m3_rne_satfinite(f32(x / scale))    -- one correctly rounded f32 division per value
 * with NaN → 0x7f (whatever its sign: GPU arithmetic returns the canonical NaN), ±Inf → ±448 and
 * -0 → 0x80. A double-precision division rounded once to f32 equals the correctly rounded f32
 * division (the double has more than 2·24 + 2 bits), so `Math.fround(x / s)` is `__fdiv_rn(x, s)`.
 */
import { decodeBf16Array } from "../tensor/bf16.ts";
import { E4M3_DECODE_TABLE, E4M3_MAX, E4M3_NAN_CODE, encodeE4m3 } from "../tensor/fp8.ts";
import { InvalidArgumentError } from "../errors.ts";
import { QUANT_BLOCK, numBlocks } from "./layout.ts";

export { referenceGemmNt, referenceGemmNtRows, relativeFrobeniusError } from "./referenceGemm.ts";

/**
 * Lower bound of a block's amax, so an all-zero (or all-NaN) block gets a finite, non-zero scale:
 * scale = f32(f32(1e-4) / 448). The GPU kernels use the same f32 constant `1e-4f`.
 */
export const AMAX_FLOOR: number = Math.fround(1e-4);

/** FP8 codes plus their f32 scales, on the host. */
export interface HostQuantized {
  /** e4m3 codes, same shape as the input, row-major. */
  data: Uint8Array;
  /**
   * f32 scales, row-major. Per token: logical [rows, ceil(K/128)] (use scalesToTmaAligned for the
   * layout the GEMM reads). Per block: [G, ceil(N/128), ceil(K/128)].
   */
  scales: Float32Array;
}

/** Host input: f32 values, or BF16 bit patterns (Uint16Array). */
export type HostInput = Float32Array | Uint16Array;

function asF32(x: HostInput): Float32Array {
  return x instanceof Float32Array ? x : decodeBf16Array(x);
}

function checkShape(fn: string, x: HostInput, dims: Record<string, number>): void {
  let expected = 1;
  for (const [name, value] of Object.entries(dims)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${fn}: ${name}`, "must be a non-negative integer", value);
    }
    expected *= value;
  }
  if (x.length !== expected) {
    const shape = Object.entries(dims).map(([name, v]) => `${name}=${v}`).join(", ");
    throw new InvalidArgumentError(`${fn}: x`, `length must be the product of ${shape} = ${expected}`, x.length);
  }
}

/** Largest finite |v| of a block (NaN and ±Inf ignored); 0 for a block without finite values. */
function blockAmax(values: Float32Array, rowStart: number, rowStride: number, rows: number, cols: number): number {
  let amax = 0;
  for (let r = 0; r < rows; r++) {
    const base = rowStart + r * rowStride;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(values[base + c]!);
      // NaN fails the comparison, so it never becomes the amax.
      if (a > amax && a !== Infinity) amax = a;
    }
  }
  return amax;
}

/** e4m3 code of one value under the quantizer's policy (see file comment). */
export function quantizeValue(x: number, scale: number): number {
  if (Number.isNaN(x)) return E4M3_NAN_CODE;
  return encodeE4m3(Math.fround(x / scale));
}

/** The scale of a block whose largest finite magnitude is `amax` (before the floor). */
export function scaleForAmax(amax: number): number {
  return Math.fround(Math.max(amax, AMAX_FLOOR) / E4M3_MAX);
}

function quantizeBlock(
  values: Float32Array,
  out: Uint8Array,
  rowStart: number,
  rowStride: number,
  rows: number,
  cols: number,
): number {
  const scale = scaleForAmax(blockAmax(values, rowStart, rowStride, rows, cols));
  for (let r = 0; r < rows; r++) {
    const base = rowStart + r * rowStride;
    for (let c = 0; c < cols; c++) out[base + c] = quantizeValue(values[base + c]!, scale);
  }
  return scale;
}

/**
 * Per-token 1x128 quantization of activations A [rows, K] (for a batch [G, M, K] pass rows = G·M).
 * Returns codes [rows, K] and logical scales [rows, ceil(K/128)].
 */
export function quantizePerTokenReference(x: HostInput, rows: number, k: number): HostQuantized {
  checkShape("quantizePerTokenReference", x, { rows, k });
  const values = asF32(x);
  const kBlocks = numBlocks(k);
  const data = new Uint8Array(rows * k);
  const scales = new Float32Array(rows * kBlocks);
  for (let row = 0; row < rows; row++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const cols = Math.min(QUANT_BLOCK, k - kb * QUANT_BLOCK);
      scales[row * kBlocks + kb] = quantizeBlock(values, data, row * k + kb * QUANT_BLOCK, k, 1, cols);
    }
  }
  return { data, scales };
}

/**
 * Per-block 128x128 quantization of weights B [G, N, K] (numGroups = 1 for a single matrix).
 * Returns codes [G, N, K] and scales [G, ceil(N/128), ceil(K/128)].
 */
export function quantizePerBlockReference(x: HostInput, n: number, k: number, numGroups = 1): HostQuantized {
  checkShape("quantizePerBlockReference", x, { numGroups, n, k });
  const values = asF32(x);
  const nBlocks = numBlocks(n);
  const kBlocks = numBlocks(k);
  const data = new Uint8Array(numGroups * n * k);
  const scales = new Float32Array(numGroups * nBlocks * kBlocks);
  for (let g = 0; g < numGroups; g++) {
    for (let nb = 0; nb < nBlocks; nb++) {
      const rows = Math.min(QUANT_BLOCK, n - nb * QUANT_BLOCK);
      for (let kb = 0; kb < kBlocks; kb++) {
        const cols = Math.min(QUANT_BLOCK, k - kb * QUANT_BLOCK);
        const start = (g * n + nb * QUANT_BLOCK) * k + kb * QUANT_BLOCK;
        scales[(g * nBlocks + nb) * kBlocks + kb] = quantizeBlock(values, data, start, k, rows, cols);
      }
    }
  }
  return { data, scales };
}

/**
 * Dequantizes per-token codes [rows, K] with logical scales [rows, ceil(K/128)]: f32(decode · scale),
 * the product the GPU computes with one rounded f32 multiply (encode with encodeBf16Array for BF16).
 */
export function dequantizePerTokenReference(data: Uint8Array, scales: Float32Array, rows: number, k: number): Float32Array {
  const kBlocks = numBlocks(k);
  checkLength("dequantizePerTokenReference", data, rows * k, scales, rows * kBlocks);
  const out = new Float32Array(rows * k);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < k; col++) {
      const i = row * k + col;
      out[i] = E4M3_DECODE_TABLE[data[i]!]! * scales[row * kBlocks + Math.floor(col / QUANT_BLOCK)]!;
    }
  }
  return out;
}

/** Dequantizes per-block codes [G, N, K] with scales [G, ceil(N/128), ceil(K/128)] to f32. */
export function dequantizePerBlockReference(
  data: Uint8Array,
  scales: Float32Array,
  n: number,
  k: number,
  numGroups = 1,
): Float32Array {
  const nBlocks = numBlocks(n);
  const kBlocks = numBlocks(k);
  checkLength("dequantizePerBlockReference", data, numGroups * n * k, scales, numGroups * nBlocks * kBlocks);
  const out = new Float32Array(numGroups * n * k);
  for (let g = 0; g < numGroups; g++) {
    for (let row = 0; row < n; row++) {
      const scaleRow = (g * nBlocks + Math.floor(row / QUANT_BLOCK)) * kBlocks;
      for (let col = 0; col < k; col++) {
        const i = (g * n + row) * k + col;
        out[i] = E4M3_DECODE_TABLE[data[i]!]! * scales[scaleRow + Math.floor(col / QUANT_BLOCK)]!;
      }
    }
  }
  return out;
}

function checkLength(fn: string, data: Uint8Array, dataLength: number, scales: Float32Array, scalesLength: number): void {
  if (data.length !== dataLength) throw new InvalidArgumentError(`${fn}: data`, `length must be ${dataLength}`, data.length);
  if (scales.length !== scalesLength) {
    throw new InvalidArgumentError(`${fn}: scales`, `length must be ${scalesLength}`, scales.length);
  }
}
