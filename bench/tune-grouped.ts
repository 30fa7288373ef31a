/**
 * Configuration sweeps for the grouped GEMMs (calibrate the heuristics; not part of `bun run bench`):
 *   bun bench/tune-grouped.ts [--rows "G,expectedM,N,K;..."] [--draws D] [--configs JSON]
 *   bun bench/tune-grouped.ts --contiguous [--rows "G,M per group,N,K;..."] [--configs JSON]
 * Masked: every configuration of a row is timed on the same D draws of the per-group counts
 * (uniform in [0.7, 1.3] × expected M, from a fixed seed), with the benchmark's clock; prints the
 * mean TFLOPS over the draws (total rows computed / total time), the slowest draw, and the model's
 * estimate. Contiguous: equal segments of M rows per expert; prints TFLOPS and the model's estimate.
 * A row's configurations are timed in alternation (each round times every one once), so the card's
 * clock and power state is the same for all of them (timed one after the other, whichever ran first
 * won by 1-4%: docs/perf-notes.md, runs 27 and 51).
 */
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { planMGroupedFp8GemmNtContiguous, planMGroupedFp8GemmNtMasked, type KernelConfig } from "../src/gemm/index.ts";
import { estimateSeconds, selectConfig } from "../src/gemm/heuristics.ts";
import { deviceLimits, resolveConfig } from "../src/gemm/resolveConfig.ts";
import type { GemmProblem } from "../src/gemm/config.ts";
import { alignedM, numBlocks } from "../src/quant/layout.ts";
import { copyHostToDevice } from "../src/runtime/memory.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { randomFp8Codes, randomScales } from "./inputs.ts";
import { parseConfigs, parseRows } from "./sweepArgs.ts";
import { KernelTimer } from "./timing.ts";
import { configKey as key, sweepLine } from "./configKey.ts";
import { CONTIGUOUS_SHAPES, MASKED_GROUPS, MASKED_NK, contiguousDeviceOperands, maskedCounts } from "./grouped.ts";

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseArgs(argv: string[]): { rows: number[][]; draws: number; configs: Partial<KernelConfig>[]; contiguous: boolean } {
  const contiguous = argv.includes("--contiguous");
  let rows = contiguous ? CONTIGUOUS_SHAPES.map((r) => [...r]) : MASKED_NK.flatMap(([n, k]) => MASKED_GROUPS.map(([g, e]) => [g, e, n, k]));
  let draws = 8;
  let configs: Partial<KernelConfig>[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--rows") rows = parseRows(argv[++i]);
    else if (argv[i] === "--draws") draws = Number(argv[++i]);
    else if (argv[i] === "--configs") configs = parseConfigs(argv[++i]);
  }
  return { rows, draws, configs, contiguous };
}


const { rows, draws, configs, contiguous } = parseArgs(Bun.argv.slice(2));
const device = Device.get(0);
const limits = deviceLimits(device);
using stream = Stream.create(device);
using timer = KernelTimer.create(device, stream);

/** The heuristics' choice and each override applied over it (refused overrides are reported). */
function pickConfigs(problem: GemmProblem): { chosen: KernelConfig; picked: Map<string, KernelConfig> } {
  const chosen = selectConfig(problem, limits);
  const picked = new Map<string, KernelConfig>([[key(chosen), chosen]]);
  for (const override of configs) {
    try {
      const c = resolveConfig(problem, limits, override);
      picked.set(key(c), c);
    } catch (error) {
      console.log(`  ${JSON.stringify(override)} rejected: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { chosen, picked };
}

type Override = Partial<Omit<KernelConfig, "tmaStore">>;
interface Measured {
  us: number;
  tflops: number;
  note?: string;
}

/**
 * Builds a runner for every picked configuration with `build`, times them all together with
 * `measure` (one result per runner, in order) and prints them fastest first under `title`; a
 * configuration whose plan fails to build is listed as failed.
 */
function printSweep(title: string, problem: GemmProblem, build: (override: Override) => () => void, measure: (runs: (() => void)[]) => Measured[]): void {
  const { chosen, picked } = pickConfigs(problem);
  const lines: { tflops: number; line: string }[] = [];
  const built: { config: KernelConfig; run: () => void }[] = [];
  for (const config of picked.values()) {
    try {
      // The plan options take every field but the epilogue path (the plan derives it from the output).
      const { tmaStore: _derived, ...override } = config;
      built.push({ config, run: build(override) });
    } catch (error) {
      lines.push({ tflops: 0, line: `${key(config)} failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
  }
  measure(built.map((b) => b.run)).forEach(({ us, tflops, note }, i) => {
    const config = built[i]!.config;
    const est = estimateSeconds(problem, config, limits) * 1e6;
    lines.push({
      tflops,
      line: sweepLine({ label: key(config), us, tflops, note, modelUs: est, chosen: key(config) === key(chosen) }),
    });
  });
  console.log(`== ${title}`);
  for (const l of lines.sort((x, y) => y.tflops - x.tflops)) console.log(`  ${l.line}`);
}

const TIMING = { warmup: 2, runs: 10 };

function tuneContiguous(numGroups: number, mPerGroup: number, n: number, k: number): void {
  const mTotal = numGroups * mPerGroup;
  const problem: GemmProblem = { gemmType: "contiguous", m: mTotal, n, k, numGroups, outDtype: "bf16", accumulate: false };
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const args = {
      ...contiguousDeviceOperands(device, mTotal, numGroups, n, k, keep),
      mIndices: keep(Tensor.fromHost(device, Int32Array.from({ length: mTotal }, (_, row) => Math.floor(row / mPerGroup)), [mTotal], "i32")),
    };
    printSweep(
      `contiguous G=${numGroups} M/group=${mPerGroup} N=${n} K=${k}`,
      problem,
      (override) => {
        const plan = planMGroupedFp8GemmNtContiguous(device, { mTotal, n, k, numGroups }, { debugChecks: false, config: override });
        return () => plan.run(args, stream);
      },
      (runs) => timer.timeInterleaved(runs, TIMING).map(({ medianUs: us }) => ({ us, tflops: (2 * mTotal * n * k) / (us * 1e-6) / 1e12 })),
    );
  } finally {
    made.forEach((t) => t.dispose());
  }
}

for (const [numGroups, expectedM, n, k] of rows as [number, number, number, number][]) {
  if (contiguous) {
    tuneContiguous(numGroups, expectedM, n, k);
    continue;
  }
  const mMax = 2 * expectedM;
  const kBlocks = numBlocks(k);
  const problem: GemmProblem = { gemmType: "masked", m: mMax, n, k, numGroups, outDtype: "bf16", accumulate: false, expectedM };
  const random = seeded(numGroups * 7919 + expectedM * 31 + n + k);
  const countDraws = Array.from({ length: draws }, () => maskedCounts(numGroups, expectedM, mMax, random));
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const args = {
      a: keep(Tensor.fromHost(device, randomFp8Codes(numGroups * mMax * k), [numGroups, mMax, k], "e4m3")),
      sfa: keep(Tensor.fromHost(device, randomScales(numGroups * kBlocks * alignedM(mMax)), [numGroups, kBlocks, alignedM(mMax)], "f32")),
      b: keep(Tensor.fromHost(device, randomFp8Codes(numGroups * n * k), [numGroups, n, k], "e4m3")),
      sfb: keep(Tensor.fromHost(device, randomScales(numGroups * numBlocks(n) * kBlocks), [numGroups, numBlocks(n), kBlocks], "f32")),
      d: keep(Tensor.empty(device, [numGroups, mMax, n], "bf16")),
      maskedM: keep(Tensor.empty(device, [numGroups], "i32")),
    };
    const drawList = countDraws.map((c) => c.join("+")).join(" ");
    printSweep(
      `masked G=${numGroups} expectedM=${expectedM} N=${n} K=${k} (draws: ${drawList})`,
      problem,
      (override) => {
        const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups, expectedM }, { debugChecks: false, config: override });
        return () => plan.run(args, stream);
      },
      (runs) => {
        const totals = runs.map(() => ({ us: 0, worst: Infinity }));
        let totalRows = 0;
        for (const counts of countDraws) {
          copyHostToDevice(args.maskedM, Int32Array.from(counts));
          const rowsNow = counts.reduce((a, c) => a + c, 0);
          totalRows += rowsNow;
          timer.timeInterleaved(runs, TIMING).forEach(({ medianUs }, i) => {
            totals[i]!.us += medianUs;
            totals[i]!.worst = Math.min(totals[i]!.worst, (2 * rowsNow * n * k) / (medianUs * 1e-6) / 1e12);
          });
        }
        return totals.map(({ us, worst }) => ({ us: us / draws, tflops: (2 * totalRows * n * k) / (us * 1e-6) / 1e12, note: `worst draw ${worst.toFixed(0)}` }));
      },
    );
  } finally {
    made.forEach((t) => t.dispose());
  }
}
