/**
 * DESIGN §6's DeepGEMM figures carried over to the card of this run.
 *
 * §6 was measured on one H200 of the pool; absolute times differ by up to 15% between cards (and
 * with the card's state), so its DeepGEMM TFLOPS are not a same-run bar. cuBLASLt ran beside
 * DeepGEMM there and runs beside us here, so it is the bridge:
 *
 *   card factor  = geomean over §6's compute-bound dense rows (M >= 4096) of §6's cuBLASLt µs / this run's
 *                  (< 1: this card ran the same cuBLASLt calls slower than §6's card)
 *   masked row   = our TFLOPS / (§6's DeepGEMM TFLOPS × card factor)            (≥ 0.95 is the issue's bar)
 *   dense row    = DeepGEMM's time estimated for this card / ours, where the estimate is
 *                  §6 DeepGEMM µs × (this run's cuBLASLt µs / §6 cuBLASLt µs) for that very row
 *
 * Pure functions over the record's rows; the raw §6 comparison stays the reader's to make.
 */
import type { BenchRow } from "./record.ts";
import { geomean } from "./metrics.ts";

/** DESIGN §6 dense rows: [M, N, K, DeepGEMM µs, cuBLASLt µs]. */
export const DESIGN_DENSE: readonly (readonly [m: number, n: number, k: number, deepGemmUs: number, cublasLtUs: number])[] = [
  [64, 2112, 7168, 10.0, 10.8],
  [64, 24576, 1536, 16.2, 15.9],
  [64, 32768, 512, 9.0, 9.2],
  [64, 7168, 16384, 40.3, 38.2],
  [64, 4096, 7168, 13.7, 13.3],
  [64, 7168, 2048, 7.8, 8.3],
  [128, 2112, 7168, 11.0, 10.3],
  [128, 24576, 1536, 17.1, 16.4],
  [128, 32768, 512, 10.4, 10.5],
  [128, 7168, 16384, 43.6, 45.3],
  [128, 4096, 7168, 13.9, 14.3],
  [128, 7168, 2048, 9.1, 8.5],
  [4096, 2112, 7168, 94.4, 92.5],
  [4096, 24576, 1536, 229.6, 234.8],
  [4096, 32768, 512, 126.3, 149.2],
  [4096, 7168, 16384, 647.5, 664.4],
  [4096, 4096, 7168, 165.2, 164.7],
  [4096, 7168, 2048, 90.0, 91.3],
  [8192, 8192, 8192, 750.0, 735.0],
];

/** DESIGN §6 masked rows: [G, expected M, N, K, DeepGEMM TFLOPS]. */
export const DESIGN_MASKED: readonly (readonly [g: number, expectedM: number, n: number, k: number, deepGemmTflops: number])[] = [
  [1, 1024, 4096, 7168, 1099],
  [2, 512, 4096, 7168, 1081],
  [4, 256, 4096, 7168, 886],
  [1, 1024, 7168, 2048, 1000],
  [2, 512, 7168, 2048, 907],
  [4, 256, 7168, 2048, 802],
];

export interface SameCardRow {
  m: number;
  n: number;
  k: number;
  /** Groups (masked rows) or 1. */
  groups: number;
  /** > 1: ahead of DeepGEMM as estimated for this card (dense: its estimated time / ours; masked: our TFLOPS / its estimated TFLOPS). */
  ratio: number;
}

export interface SameCardSummary {
  /** §6 cuBLASLt µs / this run's, geomean over the compute-bound rows both have; null without any. */
  cardFactor: number | null;
  cardFactorRows: number;
  dense: SameCardRow[];
  masked: SameCardRow[];
}

function cublasUs(row: BenchRow): number | null {
  const base = row.baselines?.cublasLt;
  if (base !== undefined && "us" in base && base.us > 0) return base.us;
  // Older records carry only the ratio: baseline time = ratio × ours.
  return row.vsCublasLt !== null && row.vsCublasLt > 0 ? row.vsCublasLt * row.us : null;
}

/** The same-card reading of DESIGN §6 for a record's rows. */
export function sameCardSummary(rows: readonly BenchRow[]): SameCardSummary {
  const dense: SameCardRow[] = [];
  const factors: number[] = [];
  for (const [m, n, k, deepGemmUs, designCublasUs] of DESIGN_DENSE) {
    const row = rows.find((r) => r.kind === "dense" && r.m === m && r.n === n && r.k === k);
    const here = row === undefined ? null : cublasUs(row);
    if (row === undefined || here === null || !(row.us > 0)) continue;
    dense.push({ m, n, k, groups: 1, ratio: (deepGemmUs * (here / designCublasUs)) / row.us });
    if (m >= 4096) factors.push(designCublasUs / here);
  }
  const cardFactor = geomean(factors);
  const masked: SameCardRow[] = [];
  if (cardFactor !== null) {
    for (const [g, expectedM, n, k, deepGemmTflops] of DESIGN_MASKED) {
      const row = rows.find((r) => r.kind === "masked" && r.groups === g && r.m === expectedM && r.n === n && r.k === k);
      if (row === undefined || !(row.tflops > 0)) continue;
      masked.push({ m: expectedM, n, k, groups: g, ratio: row.tflops / (deepGemmTflops * cardFactor) });
    }
  }
  return { cardFactor, cardFactorRows: factors.length, dense, masked };
}

/** Markdown lines for the record page (empty when the run had no cuBLASLt rows to bridge with). */
export function renderSameCard(s: SameCardSummary): string[] {
  if (s.cardFactor === null) return [];
  const list = (rows: readonly SameCardRow[], label: (r: SameCardRow) => string): string =>
    rows.map((r) => `${label(r)} ${r.ratio.toFixed(2)}`).join(", ");
  const lines = [
    "",
    `DESIGN §6 carried over to this card (bench/sameCard.ts): §6's cuBLASLt times / this run's = ${s.cardFactor.toFixed(3)} ` +
      `(geomean over ${s.cardFactorRows} rows with M ≥ 4096). §6's DeepGEMM through it:`,
    "",
  ];
  if (s.masked.length > 0) {
    lines.push(`- masked, our TFLOPS / (§6 DeepGEMM × ${s.cardFactor.toFixed(3)}), bar 0.95: ${list(s.masked, (r) => `(${r.groups}, ${r.m}) ${r.n}×${r.k}`)}`);
  }
  if (s.dense.length > 0) {
    lines.push(`- dense, estimated DeepGEMM time / ours (per row through its cuBLASLt time): ${list(s.dense, (r) => `${r.m}×${r.n}×${r.k}`)}`);
  }
  return lines;
}
