/**
 * Grouped suite: the M-grouped GEMMs on DESIGN §7 shapes, timed like the dense suite (L2 flushed,
 * CUDA events, median), in the same run as their points of comparison.
 *
 * - contiguous (G, M per group, N, K): every expert gets exactly M rows (so no padding). Row
 *   `m` = G·M, the real rows. Also timed: the dense plan on the same total M, N, K (A, D and one
 *   expert's B reused), recorded as `config.denseUs` and `config.vsDense` (dense time / grouped
 *   time: 1.0 means grouping costs nothing).
 * - masked (G, expected M) × (N, K): M_max = 2·expected M; per-group counts drawn uniformly in
 *   [0.7, 1.3] × expected M and written into maskedM. Row `m` = expected M (stable across runs);
 *   TFLOPS and GB/s count the rows really computed (Σ maskedM), recorded as `config.rows`.
 *
 * Each row's relError compares two sampled output rows (the first expert's first row, the last
 * expert's last real row) with the f64 reference.
 */
import { planFp8GemmNt, planMGroupedFp8GemmNtContiguous, planMGroupedFp8GemmNtMasked, type KernelConfig } from "../src/gemm/index.ts";
import { alignedM, numBlocks, scalesToTmaAligned } from "../src/quant/layout.ts";
import { referenceGemmNtRows, relativeFrobeniusError } from "../src/quant/referenceGemm.ts";
import { copyHostToDevice } from "../src/runtime/memory.ts";
import type { Device } from "../src/runtime/device.ts";
import { decodeBf16Array } from "../src/tensor/bf16.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { rowConfig } from "./dense.ts";
import { randomFp8Codes, randomScales } from "./inputs.ts";
import { gbps, gemmBytes, gemmFlops, speedup, tflops } from "./metrics.ts";
import type { BenchRow, RowConfig } from "./record.ts";
import type { BenchContext, BenchSuite } from "./suite.ts";

/** DESIGN §7 contiguous (G, M per group, N, K). */
export const CONTIGUOUS_SHAPES: readonly (readonly [g: number, mPerGroup: number, n: number, k: number])[] = [
  [4, 8192, 4096, 7168],
  [4, 8192, 7168, 2048],
  [8, 4096, 4096, 7168],
  [8, 4096, 7168, 2048],
];
/** DESIGN §7 masked (G, expected M) and (N, K). */
export const MASKED_GROUPS: readonly (readonly [g: number, expectedM: number])[] = [[1, 1024], [2, 512], [4, 256]];
export const MASKED_NK: readonly (readonly [n: number, k: number])[] = [[4096, 7168], [7168, 2048]];
/**
 * Draws of the per-group counts timed per masked row. One draw moves a row by up to ±25% (whether
 * the tiles fill a last round is luck) and the mean of 5 moved the same kernels' rows by 4-6%
 * between the records of runs 47 and 53 (docs/perf-notes.md); 16 draws cut that spread to ~0.56.
 */
export const MASKED_DRAWS = 16;

/**
 * Random device operands of a contiguous GEMM (A [mTotal, K], its TMA-aligned scales, B [G, N, K], its
 * block scales, D [mTotal, N]) for the timing sweeps; each tensor goes through `keep`, which owns it.
 */
export function contiguousDeviceOperands(device: Device, mTotal: number, numGroups: number, n: number, k: number, keep: (t: Tensor) => Tensor) {
  const kBlocks = numBlocks(k);
  return {
    a: keep(Tensor.fromHost(device, randomFp8Codes(mTotal * k), [mTotal, k], "e4m3")),
    sfa: keep(Tensor.fromHost(device, randomScales(kBlocks * alignedM(mTotal)), [kBlocks, alignedM(mTotal)], "f32")),
    b: keep(Tensor.fromHost(device, randomFp8Codes(numGroups * n * k), [numGroups, n, k], "e4m3")),
    sfb: keep(Tensor.fromHost(device, randomScales(numGroups * numBlocks(n) * kBlocks), [numGroups, numBlocks(n), kBlocks], "f32")),
    d: keep(Tensor.empty(device, [mTotal, n], "bf16")),
  };
}

/** Per-group counts uniform in [0.7, 1.3] × expectedM, at most mMax. */
export function maskedCounts(numGroups: number, expectedM: number, mMax: number, random: () => number = Math.random): number[] {
  return Array.from({ length: numGroups }, () => Math.min(mMax, Math.round(expectedM * (0.7 + 0.6 * random()))));
}

/** Host operands shared by both layouts: A's rows as a 2-D [rows, K] view, per-expert B. */
interface HostOperands {
  rows: number;
  k: number;
  a: Uint8Array;
  sfaLogical: Float32Array;
  b: Uint8Array;
  sfb: Float32Array;
}

function hostOperands(rows: number, numGroups: number, n: number, k: number): HostOperands {
  const kBlocks = numBlocks(k);
  return {
    rows,
    k,
    a: randomFp8Codes(rows * k),
    sfaLogical: randomScales(rows * kBlocks),
    b: randomFp8Codes(numGroups * n * k),
    sfb: randomScales(numGroups * numBlocks(n) * kBlocks),
  };
}

/**
 * ‖D − reference‖ / ‖reference‖ on the given (A row, expert) pairs, from the D now on the device
 * ([rows, N] as a 2-D view).
 */
function sampledRelError(ctx: BenchContext, d: Tensor, host: HostOperands, n: number, checks: readonly (readonly [row: number, group: number])[]): number {
  ctx.stream.synchronize();
  const all = decodeBf16Array(d.toHost() as Uint16Array);
  const { k } = host;
  const kBlocks = numBlocks(k);
  const sfbSize = numBlocks(n) * kBlocks;
  const got: number[] = [];
  const ref: number[] = [];
  for (const [row, g] of checks) {
    const aRow = host.a.subarray(row * k, (row + 1) * k);
    const sfaRow = host.sfaLogical.subarray(row * kBlocks, (row + 1) * kBlocks);
    const bG = host.b.subarray(g * n * k, (g + 1) * n * k);
    const sfbG = host.sfb.subarray(g * sfbSize, (g + 1) * sfbSize);
    ref.push(...referenceGemmNtRows([0], aRow, sfaRow, bG, sfbG, 1, n, k));
    got.push(...all.subarray(row * n, (row + 1) * n));
  }
  return relativeFrobeniusError(got, ref);
}

/** A record row from the measured fields; rates from the FLOPs and bytes of the rows really computed. */
function groupedRow(
  row: Pick<BenchRow, "kind" | "m" | "n" | "k" | "groups" | "us" | "relError" | "config">,
  flops: number,
  bytes: number,
): BenchRow {
  // No cuBLASLt grouped baseline: the ratios stay null (the contiguous row's own comparison is config.vsDense).
  return { ...row, tflops: tflops(flops, row.us), gbps: gbps(bytes, row.us), vsCublasLt: null, vsCublasLtBlock: null };
}

function withConfig(config: Readonly<KernelConfig>, extra: RowConfig): RowConfig {
  return { ...rowConfig(config), ...extra };
}

function contiguousRow(ctx: BenchContext, numGroups: number, mPerGroup: number, n: number, k: number): BenchRow {
  const mTotal = numGroups * mPerGroup;
  const kBlocks = numBlocks(k);
  const host = hostOperands(mTotal, numGroups, n, k);
  const mIndices = Int32Array.from({ length: mTotal }, (_, row) => Math.floor(row / mPerGroup));
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const a = keep(Tensor.fromHost(ctx.device, host.a, [mTotal, k], "e4m3"));
    const sfa = keep(Tensor.fromHost(ctx.device, scalesToTmaAligned(host.sfaLogical, mTotal, kBlocks), [kBlocks, alignedM(mTotal)], "f32"));
    const b = keep(Tensor.fromHost(ctx.device, host.b, [numGroups, n, k], "e4m3"));
    const sfb = keep(Tensor.fromHost(ctx.device, host.sfb, [numGroups, numBlocks(n), kBlocks], "f32"));
    const d = keep(Tensor.empty(ctx.device, [mTotal, n], "bf16"));
    const mIndicesT = keep(Tensor.fromHost(ctx.device, mIndices, [mTotal], "i32"));

    const plan = planMGroupedFp8GemmNtContiguous(ctx.device, { mTotal, n, k, numGroups }, { debugChecks: false });
    const args = { a, sfa, b, sfb, d, mIndices: mIndicesT };
    const runGrouped = (): void => plan.run(args, ctx.stream);
    // The dense plan on the same total M, N, K: one expert's weights (views, nothing copied), timed
    // in alternation with the grouped call so their ratio compares calls under the same clock.
    const dense = planFp8GemmNt(ctx.device, { m: mTotal, n, k, outDtype: "bf16" });
    const denseArgs = { a, sfa, b: b.view([n, k]), sfb: sfb.view([numBlocks(n), kBlocks]), d };
    const [grouped, denseTiming] = ctx.timer.timeInterleaved([runGrouped, () => dense.run(denseArgs, ctx.stream)], ctx.timing);
    const us = grouped?.medianUs ?? Number.NaN;
    const denseUs = denseTiming?.medianUs ?? Number.NaN;
    runGrouped(); // D is shared with the dense call: check a fresh grouped result
    const relError = sampledRelError(ctx, d, host, n, [[0, 0], [mTotal - 1, numGroups - 1]]);

    const flops = gemmFlops(mTotal, n, k);
    const bytes = gemmBytes(mTotal, n, k, { groups: numGroups });
    const vsDense = speedup(denseUs, us);
    ctx.log(
      `contiguous G=${numGroups} M/g=${mPerGroup} N=${n} K=${k}`.padEnd(44) +
        ` ${us.toFixed(1)} µs ${tflops(flops, us).toFixed(0)} TFLOPS ${gbps(bytes, us).toFixed(0)} GB/s err ${relError.toExponential(1)}` +
        ` | dense ${denseUs.toFixed(1)} µs, dense/grouped ${vsDense?.toFixed(3) ?? "–"}`,
    );
    const config = withConfig(plan.config, { denseUs, ...(vsDense === null ? {} : { vsDense }) });
    return groupedRow({ kind: "contiguous", m: mTotal, n, k, groups: numGroups, us, relError, config }, flops, bytes);
  } finally {
    made.forEach((t) => t.dispose());
  }
}

function maskedRow(ctx: BenchContext, numGroups: number, expectedM: number, n: number, k: number): BenchRow {
  const mMax = 2 * expectedM;
  const kBlocks = numBlocks(k);
  const host = hostOperands(numGroups * mMax, numGroups, n, k);
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const args = {
      a: keep(Tensor.fromHost(ctx.device, host.a, [numGroups, mMax, k], "e4m3")),
      sfa: keep(Tensor.fromHost(ctx.device, scalesToTmaAligned(host.sfaLogical, mMax, kBlocks, numGroups), [numGroups, kBlocks, alignedM(mMax)], "f32")),
      b: keep(Tensor.fromHost(ctx.device, host.b, [numGroups, n, k], "e4m3")),
      sfb: keep(Tensor.fromHost(ctx.device, host.sfb, [numGroups, numBlocks(n), kBlocks], "f32")),
      d: keep(Tensor.empty(ctx.device, [numGroups, mMax, n], "bf16")),
      maskedM: keep(Tensor.empty(ctx.device, [numGroups], "i32")),
    };
    const plan = planMGroupedFp8GemmNtMasked(ctx.device, { mMax, n, k, numGroups, expectedM }, { debugChecks: false });
    // Several draws of the counts (one draw moves the figure by up to ±25%: whether the tiles fill a
    // last wave is luck); the row reports their mean time and mean rows, i.e. total work / total time.
    const draws: { counts: number[]; us: number }[] = [];
    for (let i = 0; i < MASKED_DRAWS; i++) {
      const counts = maskedCounts(numGroups, expectedM, mMax);
      copyHostToDevice(args.maskedM, Int32Array.from(counts));
      draws.push({ counts, us: ctx.timer.time(() => plan.run(args, ctx.stream), ctx.timing).medianUs });
    }
    const counts = draws[draws.length - 1]!.counts;
    const us = draws.reduce((s, d) => s + d.us, 0) / draws.length;
    const rows = draws.reduce((s, d) => s + d.counts.reduce((a, c) => a + c, 0), 0) / draws.length;
    const last = numGroups - 1;
    const checks: [number, number][] = [];
    if (counts[0]! > 0) checks.push([0, 0]);
    if (counts[last]! > 0) checks.push([last * mMax + counts[last]! - 1, last]);
    const relError = checks.length === 0 ? null : sampledRelError(ctx, args.d.view([numGroups * mMax, n]), host, n, checks);

    const flops = gemmFlops(rows, n, k);
    const bytes = gemmBytes(rows, n, k, { groups: numGroups });
    for (const d of draws) {
      ctx.log(`  masked G=${numGroups} expectedM=${expectedM} N=${n} K=${k} rows ${d.counts.join("+")}: ${d.us.toFixed(1)} µs ${tflops(gemmFlops(d.counts.reduce((a, c) => a + c, 0), n, k), d.us).toFixed(0)} TFLOPS`);
    }
    ctx.log(
      `masked G=${numGroups} expectedM=${expectedM} N=${n} K=${k} (mean of ${draws.length} draws, ${rows.toFixed(0)} rows)`.padEnd(44) +
        ` ${us.toFixed(1)} µs ${tflops(flops, us).toFixed(0)} TFLOPS ${gbps(bytes, us).toFixed(0)} GB/s err ${relError?.toExponential(1) ?? "–"}`,
    );
    const drawCounts = draws.map((d) => d.counts.join("+")).join(" ");
    return groupedRow({ kind: "masked", m: expectedM, n, k, groups: numGroups, us, relError, config: withConfig(plan.config, { rows, mMax, draws: drawCounts }) }, flops, bytes);
  } finally {
    made.forEach((t) => t.dispose());
  }
}

async function runGrouped(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const attempt = (label: string, measure: () => BenchRow): void => {
    try {
      rows.push(measure());
    } catch (error) {
      ctx.error(`${label} failed: ${error instanceof Error ? error.message : String(error)}`);
      try {
        ctx.stream.synchronize();
      } catch {
        // Already reported above; a sticky error will surface again on the next shape.
      }
    }
  };
  for (const [g, m, n, k] of CONTIGUOUS_SHAPES) attempt(`contiguous ${g}x${m}x${n}x${k}`, () => contiguousRow(ctx, g, m, n, k));
  for (const [n, k] of MASKED_NK) {
    for (const [g, expectedM] of MASKED_GROUPS) attempt(`masked G=${g} expectedM=${expectedM} N=${n} K=${k}`, () => maskedRow(ctx, g, expectedM, n, k));
  }
  return rows;
}

export const suite: BenchSuite = { name: "grouped", run: runGrouped };
