/**
 * The contiguous MoE layout on the host (DESIGN §2): from per-expert token counts to the padded
 * row layout that `mGroupedFp8GemmNtContiguous` reads, and moving rows in and out of it.
 *
 *   counts [0, 1, 130, 128]  →  segments  g0: rows [0, 0)      (empty)
 *                                         g1: rows [0, 128)    1 real row, 127 padding
 *                                         g2: rows [128, 384)  130 real, 126 padding
 *                                         g3: rows [384, 512)  128 real
 *   mTotal = 512, mIndices = [1, -1 ×127, 2 ×130, -1 ×126, 3 ×128]
 *
 * The GPU builder of the same layout from device-side counts is in moeLayoutKernel.ts; both agree
 * row for row (a GPU test compares them).
 */
import { InvalidArgumentError } from "../errors.ts";
import { M_ALIGNMENT } from "./groupedShapes.ts";

export interface ContiguousLayout {
  /** Rows of the padded layout: the sum of every segment, a multiple of M_ALIGNMENT. */
  mTotal: number;
  /** First row of each expert's segment, plus mTotal at index G (so segment g is [starts[g], starts[g+1])). */
  segmentStarts: number[];
  /** i32 [mTotal]: each row's expert, -1 for padding rows. */
  mIndices: Int32Array;
}

function checkCounts(counts: readonly number[]): void {
  counts.forEach((c, g) => {
    if (!Number.isSafeInteger(c) || c < 0) throw new InvalidArgumentError(`counts[${g}]`, "must be a non-negative integer", c);
  });
}

/**
 * The padded contiguous layout of experts with `counts[g]` tokens each: expert g's rows form one
 * segment of alignUp(counts[g], M_ALIGNMENT) rows, real rows first, segments in expert order.
 * @throws InvalidArgumentError for a count that is not a non-negative integer.
 */
export function contiguousLayout(counts: readonly number[]): ContiguousLayout {
  checkCounts(counts);
  const segmentStarts = new Array<number>(counts.length + 1);
  let mTotal = 0;
  counts.forEach((c, g) => {
    segmentStarts[g] = mTotal;
    mTotal += Math.ceil(c / M_ALIGNMENT) * M_ALIGNMENT;
  });
  segmentStarts[counts.length] = mTotal;
  const mIndices = new Int32Array(mTotal).fill(-1);
  counts.forEach((c, g) => mIndices.fill(g, segmentStarts[g]!, segmentStarts[g]! + c));
  return { mTotal, segmentStarts, mIndices };
}

/** A host array of rows (FP8 codes, BF16 bits, f32 values or scales). */
export type RowArray = Uint8Array | Uint16Array | Float32Array | Int32Array;

function sameKind<T extends RowArray>(like: T, length: number): T {
  return new (like.constructor as new (length: number) => T)(length);
}

function checkRows(fn: string, array: RowArray, rows: number, width: number): void {
  if (!Number.isSafeInteger(width) || width < 1) throw new InvalidArgumentError(`${fn}: width`, "must be a positive integer", width);
  if (array.length !== rows * width) throw new InvalidArgumentError(`${fn}: rows`, `length must be ${rows} rows × ${width} = ${rows * width}`, array.length);
}

/**
 * Packed rows (every expert's tokens one after another, no padding: [Σ counts, width]) → the
 * padded contiguous layout [mTotal, width]; padding rows are filled with `fill`.
 * Use it for A's codes (width K) and for A's logical scales (width ceil(K/128)).
 * @throws InvalidArgumentError when the lengths do not match the counts.
 */
export function scatterRowsToContiguous<T extends RowArray>(packed: T, counts: readonly number[], width: number, fill = 0): T {
  const layout = contiguousLayout(counts);
  const real = counts.reduce((a, b) => a + b, 0);
  checkRows("scatterRowsToContiguous", packed, real, width);
  const out = sameKind(packed, layout.mTotal * width);
  if (fill !== 0) out.fill(fill);
  let source = 0;
  counts.forEach((c, g) => {
    out.set(packed.subarray(source * width, (source + c) * width), layout.segmentStarts[g]! * width);
    source += c;
  });
  return out;
}

/**
 * The padded contiguous layout [mTotal, width] → packed rows [Σ counts, width] (padding dropped):
 * the inverse of scatterRowsToContiguous, e.g. to read D's real rows back per expert.
 * @throws InvalidArgumentError when the lengths do not match the counts.
 */
export function gatherRowsFromContiguous<T extends RowArray>(padded: T, counts: readonly number[], width: number): T {
  const layout = contiguousLayout(counts);
  checkRows("gatherRowsFromContiguous", padded, layout.mTotal, width);
  const real = counts.reduce((a, b) => a + b, 0);
  const out = sameKind(padded, real * width);
  let target = 0;
  counts.forEach((c, g) => {
    const start = layout.segmentStarts[g]! * width;
    out.set(padded.subarray(start, start + c * width), target * width);
    target += c;
  });
  return out;
}
