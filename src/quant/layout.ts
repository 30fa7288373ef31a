/**
 * Host-side layouts of the A (activation) scale factors, DESIGN §2:
 * - logical: [M, ceil(K/128)] row-major, one f32 per 1x128 strip of A;
 * - TMA-aligned: the transpose [ceil(K/128), M_pad] with M_pad = M rounded up to 4, so one
 *   k-block's scales for consecutive rows are contiguous and every column starts 16-byte aligned.
 * Padding entries (rows M..M_pad-1) are written as 0; the GPU transform writes the same zeros,
 * so both layouts compare bit for bit.
 * Batched forms treat [G, M, ...] as G independent matrices laid out one after another.
 */
import { InvalidArgumentError } from "../errors.ts";

/** Channels per quantization block (the k-block of the GEMM). */
export const QUANT_BLOCK = 128;
/** Rows of the TMA-aligned scale layout are padded to this many f32 (16 bytes). */
export const SCALE_ROW_ALIGN = 4;

/** Rounds `x` up to a multiple of `multiple`. */
export function alignUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}

/** M padded for the TMA-aligned A-scale layout (multiple of 4 rows = 16 bytes of f32). */
export function alignedM(m: number): number {
  return alignUp(m, SCALE_ROW_ALIGN);
}

/** Number of 128-wide blocks that cover `extent` elements. */
export function numBlocks(extent: number): number {
  return Math.ceil(extent / QUANT_BLOCK);
}

function checkDims(fn: string, dims: Record<string, number>): void {
  for (const [name, value] of Object.entries(dims)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${fn}: ${name}`, "must be a non-negative integer", value);
    }
  }
}

function checkLength(fn: string, argument: string, array: Float32Array, expected: number): void {
  if (array.length !== expected) {
    throw new InvalidArgumentError(`${fn}: ${argument}`, `length must be ${expected}`, array.length);
  }
}

/** Calls `visit(logicalIndex, alignedIndex)` for every real (unpadded) A scale of every group. */
function forEachScale(
  m: number,
  kBlocks: number,
  numGroups: number,
  visit: (logicalIndex: number, alignedIndex: number) => void,
): void {
  const mPad = alignedM(m);
  for (let g = 0; g < numGroups; g++) {
    const logicalBase = g * m * kBlocks;
    const alignedBase = g * kBlocks * mPad;
    for (let row = 0; row < m; row++) {
      for (let kb = 0; kb < kBlocks; kb++) visit(logicalBase + row * kBlocks + kb, alignedBase + kb * mPad + row);
    }
  }
}

/**
 * Logical [G, M, kBlocks] → TMA-aligned [G, kBlocks, alignedM(M)] (zero padding).
 * `kBlocks` = ceil(K/128). For a single matrix pass `numGroups` = 1 (the default).
 */
export function scalesToTmaAligned(
  logical: Float32Array,
  m: number,
  kBlocks: number,
  numGroups = 1,
): Float32Array {
  checkDims("scalesToTmaAligned", { m, kBlocks, numGroups });
  checkLength("scalesToTmaAligned", "logical", logical, numGroups * m * kBlocks);
  const out = new Float32Array(numGroups * kBlocks * alignedM(m));
  forEachScale(m, kBlocks, numGroups, (logicalIndex, alignedIndex) => (out[alignedIndex] = logical[logicalIndex]!));
  return out;
}

/** TMA-aligned [G, kBlocks, alignedM(M)] → logical [G, M, kBlocks] (padding dropped). */
export function scalesFromTmaAligned(
  aligned: Float32Array,
  m: number,
  kBlocks: number,
  numGroups = 1,
): Float32Array {
  checkDims("scalesFromTmaAligned", { m, kBlocks, numGroups });
  checkLength("scalesFromTmaAligned", "aligned", aligned, numGroups * kBlocks * alignedM(m));
  const out = new Float32Array(numGroups * m * kBlocks);
  forEachScale(m, kBlocks, numGroups, (logicalIndex, alignedIndex) => (out[logicalIndex] = aligned[alignedIndex]!));
  return out;
}

/** Element index of A-scale (row, kb) of group `g` in the TMA-aligned layout. */
export function tmaAlignedScaleIndex(row: number, kb: number, m: number, kBlocks: number, g = 0): number {
  const mPad = alignedM(m);
  return g * kBlocks * mPad + kb * mPad + row;
}

/** Shape, strides and allocation of a device scale tensor. */
export interface ScaleTensorLayout {
  shape: number[];
  strides: number[];
  /** Elements of the tensor (padding included). */
  allocElements: number;
}

/**
 * The A scales as a device tensor, as the GEMM takes them: the transposed TMA-aligned storage
 * itself, contiguous [kBlocks, alignedM(M)] (or [G, kBlocks, alignedM(M)]), padding rows included
 * (the kernels write them as 0).
 */
export function tmaAlignedScaleLayout(m: number, kBlocks: number, numGroups: number, batched: boolean): ScaleTensorLayout {
  return contiguousScaleLayout(kBlocks, alignedM(m), numGroups, batched);
}

/** A contiguous scale tensor [rows, cols] / [G, rows, cols] (B scales, logical or aligned A scales). */
export function contiguousScaleLayout(rows: number, cols: number, numGroups: number, batched: boolean): ScaleTensorLayout {
  const shape = batched ? [numGroups, rows, cols] : [rows, cols];
  const strides = batched ? [rows * cols, cols, 1] : [cols, 1];
  return { shape, strides, allocElements: numGroups * rows * cols };
}
