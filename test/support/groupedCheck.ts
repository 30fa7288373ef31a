/**
 * Test support for the grouped GEMMs: per-expert weights, the f64 reference at sampled points of
 * every group (from the very codes and scales the GPU reads), and the row-by-row written/poisoned
 * check. Small problems are checked everywhere; large ones on a fresh random sample of each
 * group's real rows (always its first and last) and of the columns (edges and both sides of
 * 128-column scale boundaries).
 */
import { numBlocks } from "../../src/quant/layout.ts";
import { outputAt, randomFp8Codes, randomScales, referenceAt, type Sample } from "./gemmCheck.ts";

/** Full check below this many multiply-adds over all real rows. */
const FULL_CHECK_MACS = 2 ** 26;

/** B [G, N, K] codes and their scales [G, ceil(N/128), ceil(K/128)]. */
export interface GroupedWeights {
  b: Uint8Array;
  sfb: Float32Array;
}

export function randomWeights(numGroups: number, n: number, k: number): GroupedWeights {
  return { b: randomFp8Codes(numGroups * n * k), sfb: randomScales(numGroups * numBlocks(n) * numBlocks(k)) };
}

/** Group g's B codes and scales (views, no copies). */
function weightsOf(w: GroupedWeights, g: number, n: number, k: number): GroupedWeights {
  const sfbSize = numBlocks(n) * numBlocks(k);
  return { b: w.b.subarray(g * n * k, (g + 1) * n * k), sfb: w.sfb.subarray(g * sfbSize, (g + 1) * sfbSize) };
}

const randomInt = (n: number): number => Math.floor(Math.random() * n);
const uniqueSorted = (values: number[], limit: number): number[] =>
  [...new Set(values.filter((v) => v >= 0 && v < limit))].sort((a, b) => a - b);

/** Columns to check: all, or the edges, both sides of scale boundaries and random ones. */
function sampleCols(n: number, full: boolean): number[] {
  if (full) return Array.from({ length: n }, (_, i) => i);
  return uniqueSorted([0, n - 1, 127, 128, 255, 256, ...Array.from({ length: 160 }, () => randomInt(n))], n);
}

/** Rows [first, first + count) to check: all, or the first, the last and a few random ones. */
function sampleRows(first: number, count: number, full: boolean): number[] {
  if (count === 0) return [];
  if (full) return Array.from({ length: count }, (_, i) => first + i);
  const local = uniqueSorted([0, count - 1, ...Array.from({ length: 3 }, () => randomInt(count))], count);
  return local.map((r) => first + r);
}

/** One group's real rows, as rows of the 2-D views of A ([rows, K]) and D ([rows, N]). */
export interface GroupRows {
  group: number;
  first: number;
  count: number;
}

/**
 * ‖D − reference‖ / ‖reference‖ over sampled points of every group's real rows. `a` and
 * `sfaLogical` are the 2-D views ([rows, K] codes, [rows, ceil(K/128)] scales); `d` is the host
 * copy of D as [rows, N] bf16 bits. Returns the error and how many points were compared.
 */
export function groupedRelError(
  groups: readonly GroupRows[],
  a: Uint8Array,
  sfaLogical: Float32Array,
  w: GroupedWeights,
  d: Uint16Array,
  n: number,
  k: number,
): { relError: number; points: number } {
  const realRows = groups.reduce((sum, g) => sum + g.count, 0);
  const full = realRows * n * k <= FULL_CHECK_MACS;
  const cols = sampleCols(n, full);
  let diff = 0, norm = 0, points = 0;
  for (const { group, first, count } of groups) {
    const sample: Sample = { rows: sampleRows(first, count, full), cols };
    if (sample.rows.length === 0) continue;
    const g = weightsOf(w, group, n, k);
    const ref = referenceAt(sample, a, sfaLogical, g.b, g.sfb, k);
    const out = outputAt(sample, d, n);
    for (let i = 0; i < ref.length; i++) {
      diff += (out[i]! - ref[i]!) ** 2;
      norm += ref[i]! ** 2;
    }
    points += ref.length;
  }
  return { relError: points === 0 ? 0 : Math.sqrt(diff / norm), points };
}

/** bf16 all-bits-set: the poison D is filled with before a launch (a NaN no kernel writes). */
export const BF16_POISON = 0xffff;

/**
 * Rows of `d` ([rows, N] bf16 bits) that break the rule `mustWrite(row)`: a row that must be
 * written holding any poison element, or a row that must not be written holding anything else.
 * Returns the first few offending rows (empty when all is well).
 */
export function rowsBreakingPoisonRule(d: Uint16Array, n: number, mustWrite: (row: number) => boolean, limit = 8): number[] {
  const bad: number[] = [];
  const rows = d.length / n;
  for (let row = 0; row < rows && bad.length < limit; row++) {
    const written = mustWrite(row);
    const base = row * n;
    for (let col = 0; col < n; col++) {
      if ((d[base + col] === BF16_POISON) === written) {
        bad.push(row);
        break;
      }
    }
  }
  return bad;
}
