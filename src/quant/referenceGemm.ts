/**
 * f64 reference of the block-scaled FP8 GEMM "NT" (DESIGN §1), computed from the very FP8 codes
 * and f32 scales the GPU consumes, so its difference from the GPU result is the kernel's own error:
 *
 *   D[m, n] = Σ_kb  sfa[m, kb] · sfb[n / 128, kb] · ( Σ_{k in kb} A[m, k] · B[n, k] )
 *
 * A [M, K] and B [N, K] are e4m3 codes (row-major), sfa is the *logical* [M, ceil(K/128)] layout
 * (convert with scalesFromTmaAligned), sfb is [ceil(N/128), ceil(K/128)]. Products of two e4m3
 * values are exact in f64 and the inner sums stay exact for any K used here, so this is exact up
 * to the final f64 scale products. NaN codes propagate.
 */
import { decodeE4m3Array } from "../tensor/fp8.ts";
import { InvalidArgumentError } from "../errors.ts";
import { QUANT_BLOCK, numBlocks } from "./layout.ts";

/** The operands of the reference GEMM, in the order every function here takes them. */
export type ReferenceGemmOperands = [
  aCodes: Uint8Array,
  sfa: Float32Array,
  bCodes: Uint8Array,
  sfb: Float32Array,
  m: number,
  n: number,
  k: number,
];

function checkOperands(fn: string, [aCodes, sfa, bCodes, sfb, m, n, k]: ReferenceGemmOperands): void {
  for (const [name, value] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${fn}: ${name}`, "must be a non-negative integer", value);
    }
  }
  const kBlocks = numBlocks(k);
  const expected = [
    ["aCodes", aCodes.length, m * k],
    ["sfa", sfa.length, m * kBlocks],
    ["bCodes", bCodes.length, n * k],
    ["sfb", sfb.length, numBlocks(n) * kBlocks],
  ] as const;
  for (const [name, got, want] of expected) {
    if (got !== want) throw new InvalidArgumentError(`${fn}: ${name}`, `length must be ${want}`, got);
  }
}

/**
 * D for the selected rows of A only: returns [rows.length, N] (row i of the result is A row
 * rows[i]). For large shapes, where the full product is too slow on the CPU, tests sample rows.
 */
export function referenceGemmNtRows(rows: readonly number[], ...operands: ReferenceGemmOperands): Float64Array {
  checkOperands("referenceGemmNtRows", operands);
  const [aCodes, sfa, bCodes, sfb, m, n, k] = operands;
  for (const row of rows) {
    if (!Number.isInteger(row) || row < 0 || row >= m) {
      throw new InvalidArgumentError("referenceGemmNtRows: rows", `each row must be an integer in [0, ${m})`, row);
    }
  }
  const kBlocks = numBlocks(k);
  const b = decodeE4m3Array(bCodes);
  const out = new Float64Array(rows.length * n);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const a = decodeE4m3Array(aCodes.subarray(row * k, (row + 1) * k));
    for (let col = 0; col < n; col++) {
      const bBase = col * k;
      const sfbRow = Math.floor(col / QUANT_BLOCK) * kBlocks;
      let finalAccum = 0;
      for (let kb = 0; kb < kBlocks; kb++) {
        const kEnd = Math.min(k, (kb + 1) * QUANT_BLOCK);
        let accum = 0;
        for (let kk = kb * QUANT_BLOCK; kk < kEnd; kk++) accum += a[kk]! * b[bBase + kk]!;
        finalAccum += sfa[row * kBlocks + kb]! * sfb[sfbRow + kb]! * accum;
      }
      out[i * n + col] = finalAccum;
    }
  }
  return out;
}

/** D [M, N] in f64 (see file comment); every row. */
export function referenceGemmNt(...operands: ReferenceGemmOperands): Float64Array {
  const m = operands[4];
  const rows = Number.isSafeInteger(m) && m > 0 ? Array.from({ length: m }, (_, i) => i) : [];
  return referenceGemmNtRows(rows, ...operands);
}

/**
 * ‖out − ref‖_F / ‖ref‖_F over all elements (0 when both are all zero, Infinity when only ref is).
 * NaN anywhere gives NaN, so a NaN in the output is never mistaken for a small error.
 */
export function relativeFrobeniusError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) {
    throw new InvalidArgumentError("relativeFrobeniusError: out", `length must equal ref's ${ref.length}`, out.length);
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i]! - ref[i]!;
    diff += d * d;
    norm += ref[i]! * ref[i]!;
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}
