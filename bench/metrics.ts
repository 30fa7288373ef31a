/**
 * The arithmetic of the benchmark record (DESIGN §8), kept pure so it is unit-tested on CPU:
 * FLOP and byte counts of a shape, rates from a time, ratios and geometric means.
 */

/** Channels per quantization block: one A scale per 1x128 strip, one B scale per 128x128 block. */
const BLOCK = 128;

/** Bytes of one output element. */
export type OutDtype = "bf16" | "f32";
const OUT_BYTES: Record<OutDtype, number> = { bf16: 2, f32: 4 };

/** 2·M·N·K: one multiply and one add per term. For grouped products pass the rows really computed. */
export function gemmFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

/**
 * Bytes a FP8 block-scaled GEMM must move at least once (DESIGN §8): A [M,K] e4m3, B [G,N,K]
 * e4m3, A scales [M, ceil(K/128)] f32, B scales [G, ceil(N/128), ceil(K/128)] f32, D [M,N].
 * Padding of the TMA-aligned scale layout is not counted: it is layout, not data.
 * `groups` multiplies the weights (grouped products read one B per group).
 */
export function gemmBytes(m: number, n: number, k: number, options: { groups?: number; outDtype?: OutDtype } = {}): number {
  const groups = options.groups ?? 1;
  const outBytes = OUT_BYTES[options.outDtype ?? "bf16"];
  const kBlocks = Math.ceil(k / BLOCK);
  const a = m * k;
  const b = groups * n * k;
  const sfa = m * kBlocks * 4;
  const sfb = groups * Math.ceil(n / BLOCK) * kBlocks * 4;
  const d = m * n * outBytes;
  return a + b + sfa + sfb + d;
}

/** TFLOP/s for `flops` done in `us` microseconds. */
export function tflops(flops: number, us: number): number {
  return flops / us / 1e6;
}

/** GB/s (10^9 bytes per second) for `bytes` moved in `us` microseconds. */
export function gbps(bytes: number, us: number): number {
  return bytes / us / 1e3;
}

/**
 * How many times faster we are: the baseline's time divided by ours (DESIGN §8, "our time divided
 * into cuBLASLt's"). `null` when either time is missing or not positive.
 */
export function speedup(baselineUs: number | null | undefined, oursUs: number | null | undefined): number | null {
  if (baselineUs == null || oursUs == null || !(baselineUs > 0) || !(oursUs > 0)) return null;
  return baselineUs / oursUs;
}

/**
 * Geometric mean of the positive finite values; `null` when there are none. Missing entries
 * (a baseline that could not run) are left out rather than counted, and the caller reports how
 * many rows went in.
 */
export function geomean(values: readonly (number | null | undefined)[]): number | null {
  let sum = 0;
  let count = 0;
  for (const v of values) {
    if (v == null || !Number.isFinite(v) || v <= 0) continue;
    sum += Math.log(v);
    count++;
  }
  return count === 0 ? null : Math.exp(sum / count);
}

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
