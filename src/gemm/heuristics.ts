/**
 * Picks the kernel configuration for a problem on a device. Pure: (problem, device limits) in,
 * plain config out, so every rule is unit-tested on the CPU.
 *
 * The cost model estimates a time for each candidate and keeps the smallest:
 *   time = max(DRAM floor, waves × per-tile time)
 *   per-tile time = k-blocks × max(tensor-core time, operand ingest time) + epilogue + fixed cost
 * Waves count units (a tile, or the pair of tiles a 2-CTA cluster shares) over the clusters the
 * grid holds. The model favours full last waves, multicast where an operand is re-read by many
 * CTAs, and, at small M (memory-bound), many CTAs streaming B at once.
 */
import {
  BLOCK_K,
  blockNStraddles,
  blockNStraddlesAtMostTwo,
  fixedSharedBytes,
  numKBlocks,
  pipelinedPromotionFits,
  splitLastRoundFor,
  stageBytes,
  type DeviceLimits,
  type GemmProblem,
  type GemmType,
  type KernelConfig,
  type ScaleBSource,
  type SharedBytesProblem,
} from "./config.ts";

/** Every BLOCK_N the heuristics may choose: multiples of 16 whose tiles straddle at most two B-scale blocks. */
export const BLOCK_N_CANDIDATES: readonly number[] = Array.from({ length: 12 }, (_, i) => (i + 1) * 16)
  .filter(blockNStraddlesAtMostTwo);
export const BLOCK_M_CANDIDATES: readonly (64 | 128 | 256)[] = [64, 128, 256];
/** More stages than this buys nothing measurable (64-row small-M tiles at 19-21 stages: within 0.3 us, run 71) and lengthens barrier setup. */
export const MAX_STAGES = 16;
/**
 * Whether two math warpgroups take turns issuing their k-block's WGMMAs. Timed one configuration
 * after the other it had looked 2-11% faster at BLOCK_N = 192 and for BLOCK_M = 256 with long K
 * loops (runs 5-6, 12 in docs/perf-notes.md); timed in alternation, the free order was 0.4-3%
 * faster on every dense and contiguous §7 row but one draw (run 52). So the heuristics leave the
 * order free; the turn-taking stays a configuration option (and compiles in the reachable set).
 */
export const ORDERED_MATH_DEFAULT = false;
/**
 * Who stages B scales into shared memory: the producer-warp ring beat math-thread staging where
 * tiles are short (K = 512: 164 vs 175 us; runs 5-6, 13), and on 256-row dense tiles up to K = 2048
 * (4096 x 7168 x 2048: 95.8-96.0 vs 97.8-98.4 us, timed in alternation, run 52). Math-staged stays
 * the default elsewhere: 1.5-2% ahead at K = 16384 and 8192^3, 2-4% on the contiguous 256-row tiles
 * at K = 2048, 4-11% on the masked pipelined tiles (run 52). (Register prefetch from global lost
 * 5-20% everywhere and was removed.)
 */
export const SCALE_B_SOURCE_DEFAULT: ScaleBSource = "math-staged";
/** Up to this many k-blocks the producer ring wins on every tile (K = 512 and, at small M, K = 1536: run 13). */
export const PRODUCER_SCALES_MAX_K_BLOCKS = 12;
/** Up to this many k-blocks it wins on dense 256-row tiles (K = 2048: run 52). */
export const PRODUCER_SCALES_MAX_K_BLOCKS_DENSE_TWO_WAVE = 16;
export const scaleBSourceFor = (p: Pick<GemmProblem, "gemmType" | "k">, blockM: number): ScaleBSource => {
  const kBlocks = numKBlocks(p.k);
  if (kBlocks <= PRODUCER_SCALES_MAX_K_BLOCKS) return "producer";
  if (p.gemmType === "dense" && blockM === 256 && kBlocks <= PRODUCER_SCALES_MAX_K_BLOCKS_DENSE_TWO_WAVE) return "producer";
  return SCALE_B_SOURCE_DEFAULT;
};
/**
 * n-units per rasterisation strip (cuda/bungemm/scheduler.cuh: strips of this many n-blocks, all
 * m-blocks tall, walked row by row). Masked layouts take single columns: each B block is read by
 * all of a group's m-blocks one after the other. Same-card sweeps over the six masked rows
 * (docs/perf-notes.md, run 42): 1 and 2 beat 8 by 1.5-3% at K = 7168 and by 0-1% at K = 2048, 16
 * and 56 lost. Dense tiles keep 8 (4, 16 and 2 were 0.5-12% slower, run 28); contiguous ones too
 * (not swept: their groups have tens of m-blocks, like dense M = 4096).
 */
export const rasterGroupNFor = (gemmType: GemmType): number => (gemmType === "masked" ? 1 : 8);
/** Whether candidates use pipelined promotion where it fits (docs/perf-notes.md, run 12). */
export const PIPELINED_PROMOTION_DEFAULT = true;
/** The heuristics' pipelined-promotion setting for a tile. */
export const pipelinedPromotionFor = (blockM: number, blockN: number): boolean => PIPELINED_PROMOTION_DEFAULT && pipelinedPromotionFits(blockM, blockN);
/**
 * Whether BLOCK_M = 256 may run in a 2-CTA cluster: its multicast producer spills 8 bytes (NVCC 13.0)
 * with plain-store epilogues and with tiles narrower than 128 columns.
 */
export const twoWaveClusterFits = (blockN: number, tmaStore: boolean): boolean => blockN === 128 && tmaStore;
/** Fewer than this cannot overlap the TMA latency with the math. */
export const MIN_STAGES = 3;

// Model constants, fitted to the first H200 sweeps (bench/tune.ts; docs/perf-notes.md). Per SM:
// - tensor-core rate with two math warpgroups (BLOCK_M = 128); one warpgroup stalls on its own
//   promotion and reaches ~60% of it; BLOCK_N not a multiple of 64 ran ~12% slower per FLOP;
// - operand ingest: every CTA receives (BLOCK_M + BLOCK_N) x 128 bytes per k-block into shared
//   memory, multicast or not, and that stream tops out near 75 GB/s per SM;
// - a fixed cost per tile (epilogue, scheduler, pipeline hand-off) and per launch.
const TENSOR_FLOPS_PER_SM = 9.4e12;
const ONE_WARPGROUP_EFFICIENCY = 0.6;
// BLOCK_M = 256 (two 128-row waves per k-block, B tile reused from shared memory): measured 7-14%
// faster per FLOP than 128 x 128 on the M = 4096 rows (run 7 in docs/perf-notes.md).
// After the warp-uniform descriptor fix, 256 x 128 (ordered, A multicast) ran 5% ahead of 128 x 128
// pipelined with A multicast at 4096 x 4096 x 7168 and 9% at 4096 x 7168 x 2048 (run 18).
const TWO_WAVE_EFFICIENCY = 1.14;
// BLOCK_N not a multiple of 64: ~0.88 of the rate per FLOP in the first sweeps (serial promotion,
// run 2); with pipelined promotion 128 x 96 and 128 x 112 ran at ~0.75-0.8 of 128 x 128's rate on the
// masked rows (run 18 in docs/perf-notes.md).
const ODD_BLOCK_N_EFFICIENCY = 0.88;
const ODD_BLOCK_N_PIPELINED_EFFICIENCY = 0.78;
// Pipelined promotion (BLOCK_M <= 128): 4-8% faster than the serial loop on the same tile, and
// 128 x 128 pipelined ran 8-10% faster than 128 x 192 at 4096 x 2112 x 7168 (run 12).
const PIPELINED_EFFICIENCY = 1.12;
// BLOCK_M = 256 with A multicast to a 2-CTA cluster (half the L2 reads of A), on long K loops (>= 32
// k-blocks) and many waves: 4-8% ahead of no cluster on the contiguous K = 7168 rows (M = 32768, 31
// waves), but 1-2.6% behind it at 4096 x 7168 x 16384, 4096 x 4096 x 7168 and 8192^3 (4-16 waves),
// timed interleaved (run 51; run 12 had found 2-9% for it at M = 4096, before the k-loop got faster).
// Below that many waves equal estimates go to no cluster.
const TWO_WAVE_MULTICAST_EFFICIENCY = 1.03;
const TWO_WAVE_MULTICAST_MIN_WAVES = 24;
const MULTICAST_MIN_K_BLOCKS = 32;
// BLOCK_M = 128 pipelined tiles sharing A across a 2-CTA cluster, on long runs of waves: 5-9% on the
// contiguous K = 7168 rows (run 18); 3% slower on 4096 x 2112 x 7168 (5 waves), mixed at K = 2048.
// Grouped problems only: dense ones that long take 256-row tiles, which stayed ahead (run 18), and
// so do large contiguous ones since run 24 (a tile of two experts runs a pass per wave).
const PIPELINED_MULTICAST_EFFICIENCY = 1.06;
const PIPELINED_MULTICAST_MIN_WAVES = 8;
// BLOCK_M = 128 tiles wider than 128 columns (no room to pipeline their promotion): 128 x 192 ran at
// ~0.92 of the rate above at 4096 x 2112 x 7168 (run 12); once the k-loop was compiled per split column
// (no per-chunk choice of B scale in the promotion), at the rate of 128 x 128 pipelined: 102-104 us in
// 3 waves against 115 us in 5 (run 20 in docs/perf-notes.md). Timed interleaved against 256 x 128 on six
// M >= 4096 rows (run 58), 128 x 192 stood 4-7% better than a rate of 1.1 predicted (8192^3: 829-866 us
// against 852-895, 2.5-3.4% ahead), so its rate sits just above TWO_WAVE_EFFICIENCY.
const WIDE_SERIAL_EFFICIENCY = 1.155;
const INGEST_BYTES_PER_SM = 85e9;
const DRAM_BYTES_PER_S = 3.2e12;
const B_REREAD_FRACTION = 0.5;
const TILE_OVERHEAD_S = 0.8e-6;
const STORE_BYTES_PER_SM = 120e9;
const LAUNCH_OVERHEAD_S = 5e-6;

export interface Candidate {
  config: KernelConfig;
  estimatedSeconds: number;
}

/**
 * Masked problems: the per-group counts the tiles will meet, as multiples of expectedM. Real counts
 * scatter around the hint (DESIGN §7 and DeepGEMM's test draw them in [0.7, 1.3] × expectedM), and a
 * tile that fits the hint exactly can need a whole extra round of tiles a little above it: at
 * expected M = 256, N = 7168, K = 2048, 128 × 112 tiles (best at exactly 256 rows) ran 11% slower
 * over random counts than 128 × 128 (docs/perf-notes.md, run 18). So the estimate averages these.
 */
export const MASKED_COUNT_SPREAD: readonly number[] = [0.7, 0.85, 1, 1.15, 1.3];

/** Rows per group the tile choice plans for (one point of the spread for masked problems). */
function plannedRows(p: GemmProblem, spread = 1): number {
  return p.gemmType === "masked" ? Math.max(1, Math.min(p.m, Math.round((p.expectedM ?? p.m) * spread))) : Math.max(1, p.m);
}

function outBytes(p: GemmProblem): number {
  return p.outDtype === "bf16" ? 2 : 4;
}

/**
 * At most this many stages for a tile of this problem (below what fits the shared memory): contiguous
 * 256-row tiles accumulating into an FP32 C spilled 8 bytes with 4 stages at K = 3072..8192 (ptxas 13.0;
 * 3 stages compile clean at every K, as the BF16 tiles of the same shape run).
 */
export const stageCapFor = (p: Pick<GemmProblem, "gemmType" | "accumulate">, blockM: number): number =>
  p.gemmType === "contiguous" && p.accumulate && blockM === 256 ? 3 : MAX_STAGES;

/** The stage count a tile of `p` gets: the most that fit the shared memory, at most its cap (0: none fit). */
export function stagesFor(p: GemmProblem, blockM: number, blockN: number, tmaStore: boolean, limits: DeviceLimits, scaleBSource: ScaleBSource = scaleBSourceFor(p, blockM)): number {
  return Math.min(maxStages(blockM, blockN, p, tmaStore, limits, scaleBSource), stageCapFor(p, blockM));
}

/** Largest stage count that fits the shared memory, or 0 when fewer than MIN_STAGES fit. */
export function maxStages(blockM: number, blockN: number, p: SharedBytesProblem, tmaStore: boolean, limits: DeviceLimits, scaleBSource: ScaleBSource): number {
  const free = limits.maxSharedBytes - fixedSharedBytes(blockM, blockN, p, tmaStore, scaleBSource);

  const stages = Math.min(MAX_STAGES, Math.floor(free / (stageBytes(blockM, blockN) + 16)));
  return stages >= MIN_STAGES ? stages : 0;
}

export function estimateSeconds(p: GemmProblem, cfg: KernelConfig, limits: DeviceLimits): number {
  if (p.gemmType !== "masked" || p.expectedM === undefined) return estimateForRows(p, cfg, limits, plannedRows(p));
  const points = MASKED_COUNT_SPREAD.map((spread) => estimateForRows(p, cfg, limits, plannedRows(p, spread)));
  return points.reduce((a, b) => a + b, 0) / points.length;
}

/** The model's time with `rows` rows (per group, for masked problems). */
function estimateForRows(p: GemmProblem, cfg: KernelConfig, limits: DeviceLimits, rows: number): number {
  const groups = p.gemmType === "masked" ? p.numGroups : 1;
  const mBlocks = Math.ceil(rows / cfg.blockM);
  const nBlocks = Math.ceil(p.n / cfg.blockN);
  const units = groups * Math.ceil(mBlocks / cfg.clusterM) * Math.ceil(nBlocks / cfg.clusterN);
  const clusterSize = cfg.clusterM * cfg.clusterN;
  const numClusters = Math.floor(limits.numSms / clusterSize);
  const waves = Math.ceil(units / numClusters);

  const kBlocks = numKBlocks(p.k);
  const flopsPerKBlock = 2 * cfg.blockM * cfg.blockN * BLOCK_K;
  const rate =
    TENSOR_FLOPS_PER_SM *
    (cfg.blockM === 64 ? ONE_WARPGROUP_EFFICIENCY : cfg.blockM === 256 ? TWO_WAVE_EFFICIENCY : 1) *
    (cfg.blockN % 64 === 0 ? 1 : cfg.pipelinedPromotion ? ODD_BLOCK_N_PIPELINED_EFFICIENCY : ODD_BLOCK_N_EFFICIENCY) *
    (cfg.pipelinedPromotion ? PIPELINED_EFFICIENCY : 1) *
    (cfg.blockM === 128 && cfg.blockN > 128 ? WIDE_SERIAL_EFFICIENCY : 1) *
    (cfg.blockM === 256 && cfg.clusterN === 2 && waves >= TWO_WAVE_MULTICAST_MIN_WAVES && kBlocks >= MULTICAST_MIN_K_BLOCKS ? TWO_WAVE_MULTICAST_EFFICIENCY : 1) *
    (p.gemmType !== "dense" && cfg.blockM === 128 && cfg.pipelinedPromotion && cfg.clusterN === 2 && waves >= PIPELINED_MULTICAST_MIN_WAVES && kBlocks >= MULTICAST_MIN_K_BLOCKS
      ? PIPELINED_MULTICAST_EFFICIENCY
      : 1);
  const ingest = ((cfg.blockM + cfg.blockN) * BLOCK_K + cfg.blockM * 4) / INGEST_BYTES_PER_SM;
  const perKBlock = Math.max(flopsPerKBlock / rate, ingest);
  const epilogue = (cfg.blockM * cfg.blockN * outBytes(p)) / STORE_BYTES_PER_SM;
  const tile = kBlocks * perKBlock + epilogue + TILE_OVERHEAD_S;

  const weightCopies = p.gemmType === "dense" ? 1 : p.numGroups;
  const totalRows = rows * groups;
  // A second row of tiles re-reads B, partly from DRAM (at M = 128, two 64-row tiles ran 10-16%
  // slower than one 128-row tile on N = 7168, but 20% faster on N = 2112, where 128-row tiles left
  // half the SMs idle; run 13-14). Not charged to grouped problems: charging it made the masked
  // rows pick narrow tiles (128 x 112, 128 x 96) that ran 10-16% slower than 128 x 128 (run 18).
  const weightReads = weightCopies * (1 + (mBlocks > 1 && p.gemmType === "dense" ? B_REREAD_FRACTION : 0));
  const dram = (totalRows * p.k + weightReads * p.n * p.k + totalRows * p.n * outBytes(p)) / DRAM_BYTES_PER_S;
  // Memory-bound (small M): each CTA streams its tiles' share of B, so the transfer takes as many
  // rounds as the busiest CTA has tiles; a part-empty last round leaves DRAM bandwidth unused
  // (64 x 32768 x 512: 171 tiles of 64 x 192 ran 13.5 us, 256 of 64 x 128 11.1 us; run 13).
  const fill = units / (waves * numClusters);
  return LAUNCH_OVERHEAD_S + Math.max(dram / fill, waves * tile);
}

/** Every configuration the heuristics consider for `p` (all fit the shared memory). */
export function candidateConfigs(p: GemmProblem, limits: DeviceLimits): KernelConfig[] {
  const rows = plannedRows(p);
  const tmaStore = p.outDtype === "bf16" && !p.accumulate && p.n % 8 === 0;
  const out: KernelConfig[] = [];
  for (const blockM of BLOCK_M_CANDIDATES) {
    // A 128-row tile for a handful of rows wastes half the tensor-core work for nothing.
    if (blockM === 128 && rows <= 64) continue;
    if (blockM === 256 && rows <= 128) continue;
    // Masked layouts, whose per-group counts vary around expectedM, waste up to a whole 256-row
    // block per group (the first H200 record: 510 TFLOPS at expected M = 256 with counts 182..273).
    // (A contiguous 256-row tile whose waves belong to two experts runs one pass per wave.)
    if (blockM === 256 && p.gemmType === "masked") continue;
    const mBlocks = Math.ceil(rows / blockM);
    for (const blockN of BLOCK_N_CANDIDATES) {
      // 16-column tiles only for decode-sized M (one warpgroup): a 128-row tile of 16 columns re-reads
      // 128 A rows per 16 B rows and was never measured to pay off.
      if (blockN === 16 && blockM > 64) continue;
      // Wider than needed only adds zero columns (keep one candidate that covers N).
      if (blockN > 16 && blockN - 16 >= p.n) continue;
      // Two waves double the final accumulator: BLOCK_N / 2 + BLOCK_N registers must fit in 232. And
      // narrower two-wave tiles lose to 128-row pipelined ones (4096 x 2112 x 7168: 256 x 96 125.6 us,
      // 128 x 128 pipelined 113-116 us; run 12), so BLOCK_M = 256 comes with BLOCK_N = 128 only.
      if (blockM === 256 && blockN !== 128) continue;
      const numStages = stagesFor(p, blockM, blockN, tmaStore, limits);
      if (numStages === 0) continue;
      const nBlocks = Math.ceil(p.n / blockN);
      const clusters: [1 | 2, 1 | 2][] = [[1, 1]];
      if (nBlocks >= 2) clusters.push([1, 2]);
      // Contiguous: adjacent m-blocks may belong to different experts, so B is never shared.
      if (mBlocks >= 2 && p.gemmType !== "contiguous") clusters.push([2, 1]);
      for (const [clusterM, clusterN] of clusters) {
        // A plan limited to fewer SMs than a cluster holds (PlanOptions.maxSms) cannot launch one.
        if (clusterM * clusterN > limits.numSms) continue;
        // BLOCK_N = 192 holds 192 accumulator registers per math thread: with two warpgroups only the
        // leanest variant (dense, no cluster, TMA store) fits in 232 without spilling, and with one
        // warpgroup FP32 accumulation does not (test/cpu/gemm-reachable-compile.test.ts checks this).
        if (blockN === 192 && blockM === 128 && (p.gemmType !== "dense" || clusterM * clusterN > 1 || !tmaStore)) continue;
        if (blockN === 192 && p.accumulate) continue;
        if (blockM === 256 && clusterM * clusterN > 1 && !twoWaveClusterFits(blockN, tmaStore)) continue;
        const scaleBSource = scaleBSourceFor(p, blockM);
        out.push({
          blockM, blockN, numStages, clusterM, clusterN, rasterGroupN: rasterGroupNFor(p.gemmType), tmaStore,
          orderedMath: ORDERED_MATH_DEFAULT,
          scaleBSource,
          pipelinedPromotion: pipelinedPromotionFor(blockM, blockN),
          splitLastRound: splitLastRoundFor(p.gemmType, { blockM, blockN, clusterM, clusterN }),
        });
      }
    }
  }
  return out;
}

/**
 * The configuration with the smallest estimated time; ties (within 1%) go to pipelined promotion,
 * then to the larger tile (less operand traffic), then to no cluster (simpler launch).
 */
export function selectConfig(p: GemmProblem, limits: DeviceLimits): KernelConfig {
  const candidates = candidateConfigs(p, limits);
  if (candidates.length === 0) {
    // Unreachable for K within the validated range: B scales for K = 2^20 take 64 KB.
    throw new Error(`no kernel configuration fits ${limits.maxSharedBytes} bytes of shared memory for K = ${p.k}`);
  }
  let best: Candidate | undefined;
  for (const config of candidates) {
    const estimatedSeconds = estimateSeconds(p, config, limits);
    if (best === undefined || isBetter(estimatedSeconds, config, best)) best = { config, estimatedSeconds };
  }
  return (best as Candidate).config;
}

function isBetter(seconds: number, cfg: KernelConfig, best: Candidate): boolean {
  if (seconds < best.estimatedSeconds * 0.99) return true;
  if (seconds > best.estimatedSeconds * 1.01) return false;
  // Memory-bound estimates tie at the DRAM floor; there the pipelined loop measured faster (128 x
  // 24576 x 1536: 128 x 64 pipelined 18.7 us, 128 x 192 serial 20.0 us; run 13).
  if (cfg.pipelinedPromotion !== best.config.pipelinedPromotion) return cfg.pipelinedPromotion;
  // Then tiles that never straddle two B-scale blocks: at N = 24576, K = 1536, where the model ties
  // them at the DRAM floor, 64 x 64 ran 6-9% faster than 64 x 96 at M = 1 and 64, and 128 x 64 4-5%
  // faster than 128 x 96 at M = 128, timed in alternation (run 54).
  if (blockNStraddles(cfg.blockN) !== blockNStraddles(best.config.blockN)) return !blockNStraddles(cfg.blockN);
  const area = cfg.blockM * cfg.blockN, bestArea = best.config.blockM * best.config.blockN;
  if (area !== bestArea) return area > bestArea;
  // Equal areas: the taller tile leaves fewer rows of tiles to read B again (128 x 4096 x 7168:
  // 128 x 32 pipelined 15.8 us, 64 x 64 pipelined 17.5 us; run 20).
  if (cfg.blockM !== best.config.blockM) return cfg.blockM > best.config.blockM;
  return cfg.clusterM * cfg.clusterN < best.config.clusterM * best.config.clusterN;
}
