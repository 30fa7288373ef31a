/**
 * Configuration sweep for calibrating the heuristics (not part of `bun run bench`):
 *   bun bench/tune.ts [--shapes M,N,K;M,N,K...] [--top N] [--configs JSON] [--single-level] [--interleave RUNS]
 * `--configs` (a JSON array of partial configurations, each applied over the heuristics' choice)
 * times exactly those configurations and the choice instead of the automatic neighbourhood.
 * For each shape, times the heuristics' choice and the next best candidates of the cost model
 * (plus each of them with the other cluster modes), with the benchmark's clock (L2 flushed, CUDA
 * events, median), and prints one line per configuration: µs, TFLOPS, and the model's estimate.
 * `--single-level` also times each configuration without the promotion (the test-only single-level
 * kernel: wrong results, same loads and MMAs), to show what the promotion costs on that tile.
 * A shape's configurations are timed in alternation (each round times every one once; `--interleave
 * RUNS` sets the rounds, 10 by default), so the card's clock and power state is the same for all of
 * them: timed one after the other, whichever ran first won by 1-4% (docs/perf-notes.md, runs 27 and 51).
 * The output feeds docs/perf-notes.md; nothing is written to bench/results/.
 */
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { GemmPlan } from "../src/gemm/plan.ts";
import { candidateConfigs, estimateSeconds, maxStages, selectConfig } from "../src/gemm/heuristics.ts";
import { deviceLimits } from "../src/gemm/resolveConfig.ts";
import { pipelinedPromotionFits, type GemmProblem, type KernelConfig } from "../src/gemm/config.ts";
import { makeDenseHostInputs } from "./inputs.ts";
import { KernelTimer } from "./timing.ts";
import { configKey as key, sweepLine } from "./configKey.ts";
import { parseConfigs, parseRows } from "./sweepArgs.ts";
import { denseShapes, uploadDenseInputs } from "./dense.ts";

function parseArgs(argv: string[]): { shapes: [number, number, number][]; top: number; configs?: Partial<KernelConfig>[]; singleLevel: boolean; interleaveRuns: number } {
  let shapes = denseShapes();
  let top = 6;
  let configs: Partial<KernelConfig>[] | undefined;
  let singleLevel = false;
  let interleaveRuns = 10;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--shapes") shapes = parseRows(argv[++i]) as [number, number, number][];
    else if (argv[i] === "--top") top = Number(argv[++i]);
    else if (argv[i] === "--configs") configs = parseConfigs(argv[++i]);
    else if (argv[i] === "--single-level") singleLevel = true;
    else if (argv[i] === "--interleave") interleaveRuns = Number(argv[++i]);
  }
  return { shapes, top, configs, singleLevel, interleaveRuns };
}


const { shapes, top, configs, singleLevel, interleaveRuns } = parseArgs(Bun.argv.slice(2));
const device = Device.get(0);
const limits = deviceLimits(device);
using stream = Stream.create(device);
using timer = KernelTimer.create(device, stream);

for (const [m, n, k] of shapes) {
  const p: GemmProblem = { gemmType: "dense", m, n, k, numGroups: 1, outDtype: "bf16", accumulate: false };
  const chosen = selectConfig(p, limits);
  const ranked = candidateConfigs(p, limits)
    .map((config) => ({ config, est: estimateSeconds(p, config, limits) }))
    .sort((x, y) => x.est - y.est);
  const picked = new Map<string, KernelConfig>([[key(chosen), chosen]]);
  if (configs !== undefined) {
    for (const override of configs) {
      const c: KernelConfig = { ...chosen, ...override };
      if (override.numStages === undefined) c.numStages = maxStages(c.blockM, c.blockN, p, c.tmaStore, limits, c.scaleBSource);
      picked.set(key(c), c);
    }
  } else {
  for (const { config } of ranked.slice(0, top)) picked.set(key(config), config);
  // Each tile shape also with the other cluster modes, to see what multicast buys.
  for (const c of [...picked.values()]) {
    for (const [cm, cn] of [[1, 1], [2, 1], [1, 2]] as const) {
      const alt = ranked.find((r) => r.config.blockM === c.blockM && r.config.blockN === c.blockN && r.config.clusterM === cm && r.config.clusterN === cn);
      if (alt) picked.set(key(alt.config), alt.config);
    }
  }
  // And the 256-row (two-wave) version of each 128-row tile that fits it.
  for (const c of [...picked.values()]) {
    if (c.blockM !== 128 || c.blockN > 128 || m <= 128) continue;
    const numStages = maxStages(256, c.blockN, p, c.tmaStore, limits, c.scaleBSource);
    if (numStages > 0) picked.set(key({ ...c, blockM: 256, numStages }), { ...c, blockM: 256, numStages });
  }
  // And each BLOCK_M = 128 configuration with the other math issue order.
  for (const c of [...picked.values()]) if (c.blockM >= 128) picked.set(key({ ...c, orderedMath: !c.orderedMath }), { ...c, orderedMath: !c.orderedMath });
  // And every one with the other B-scale source.
  for (const c of [...picked.values()]) {
    for (const scaleBSource of ["math-staged", "producer"] as const) {
      const numStages = Math.min(c.numStages, maxStages(c.blockM, c.blockN, p, c.tmaStore, limits, scaleBSource));
      const alt = { ...c, scaleBSource, numStages };
      if (numStages > 0) picked.set(key(alt), alt);
    }
  }
  // And every one that can with pipelined promotion.
  for (const c of [...picked.values()]) {
    if (pipelinedPromotionFits(c.blockM, c.blockN)) picked.set(key({ ...c, pipelinedPromotion: !c.pipelinedPromotion }), { ...c, pipelinedPromotion: !c.pipelinedPromotion });
  }
  }
  using inputs = uploadDenseInputs(device, makeDenseHostInputs(m, n, k));
  const lines: { us: number; line: string }[] = [];
  const variants = [...picked.values()].flatMap((config) => (singleLevel ? [{ config, single: false }, { config: { ...config, pipelinedPromotion: false }, single: true }] : [{ config, single: false }]));
  const label = (config: KernelConfig, single: boolean): string => key(config) + (single ? " 1lvl" : "");
  const plans: { config: KernelConfig; single: boolean; plan: GemmPlan }[] = [];
  for (const { config, single } of variants) {
    try {
      plans.push({ config, single, plan: new GemmPlan(device, p, config, { singleLevel: single }) });
    } catch (error) {
      lines.push({ us: Infinity, line: `${label(config, single)} failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
  }
  const timings = timer.timeInterleaved(plans.map(({ plan }) => () => plan.run(inputs, stream)), { warmup: 2, runs: interleaveRuns });
  plans.forEach(({ config, single }, i) => {
    const us = timings[i]!.medianUs;
    const tflops = (2 * m * n * k) / (us * 1e-6) / 1e12;
    const est = estimateSeconds(p, config, limits) * 1e6;
    lines.push({ us, line: sweepLine({ label: label(config, single), us, tflops, modelUs: est, chosen: !single && key(config) === key(chosen) }) });
  });
  console.log(`== ${m} x ${n} x ${k}`);
  for (const l of lines.sort((x, y) => x.us - y.us)) console.log(`  ${l.line}`);
}
