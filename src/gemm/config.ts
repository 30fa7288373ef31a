/**
 * Plain descriptions of a GEMM problem and of one kernel configuration, and the shared-memory
 * arithmetic both the heuristics and the launch need. The formula mirrors
 * `Fp8GemmConfig::kSmemBytes` in cuda/bungemm/fp8_gemm.cuh (a CPU test compiles both and checks
 * that they agree through the kernel's static_assert).
 */

export type GemmType = "dense" | "contiguous" | "masked";
export type OutDType = "bf16" | "f32";
export type ScaleBSource = "math-staged" | "producer";
/** The kernel's kScaleBSource constant for each source. */
export const SCALE_B_SOURCE_CODE: Record<ScaleBSource, number> = { "math-staged": 1, producer: 2 };

/** One 128-wide k-block: the scale granularity along K and one 128-byte swizzled row of FP8. */
export const BLOCK_K = 128;
/** Largest dynamic shared memory a Hopper CTA may opt into (227 KB). */
export const HOPPER_MAX_SHARED_BYTES = 232448;

/** What the kernel is specialised on besides the configuration: the GEMM's static shape. */
export interface GemmProblem {
  gemmType: GemmType;
  /** Dense: M. Contiguous: M_total. Masked: M_max (rows per group). Runtime argument of the kernel. */
  m: number;
  n: number;
  k: number;
  numGroups: number;
  outDtype: OutDType;
  /** FP32 output only: D = C + A·Bᵀ. */
  accumulate: boolean;
  /** Masked only: the expected number of real rows per group, used to choose tiles. */
  expectedM?: number | undefined;
}

export interface KernelConfig {
  /** Rows per tile: 64 (one math warpgroup), 128 (two), 256 (two, each covering two 128-row waves). */
  blockM: 64 | 128 | 256;
  /** Columns per tile: a multiple of 16 up to 192 (see heuristics for the full set). */
  blockN: number;
  numStages: number;
  /** 2: two CTAs with adjacent m-blocks share (multicast) the B tile. */
  clusterM: 1 | 2;
  /** 2: two CTAs with adjacent n-blocks share (multicast) the A tile. */
  clusterN: 1 | 2;
  /** Width, in n-units, of the strips the scheduler walks for L2 reuse. */
  rasterGroupN: number;
  /** BF16 output written through shared memory and TMA stores; false: direct stores. */
  tmaStore: boolean;
  /** BLOCK_M = 128: the two math warpgroups take turns issuing their MMAs (see fp8_gemm.cuh). */
  orderedMath: boolean;
  /**
   * How B scales reach shared memory, where the math warpgroups read them: "math-staged" (copied by
   * the math threads at each tile start) or "producer" (copied ahead of time into a 2-slot ring by a
   * producer warp). See cuda/bungemm/fp8_gemm.cuh.
   */
  scaleBSource: ScaleBSource;
  /**
   * One tile wave (BLOCK_M <= 128), BLOCK_N <= 128: each math warpgroup issues the
   * next k-block's MMAs into a second accumulator before promoting the current one, so promotion
   * never leaves the tensor core idle. See cuda/bungemm/fp8_gemm.cuh.
   */
  pipelinedPromotion: boolean;
  /**
   * Dense and masked layouts, no cluster, BLOCK_M <= 128: the tiles of a part-empty last round are
   * split along K across the idle CTAs, their partial sums added through a workspace the plan owns
   * (cuda/bungemm/scheduler.cuh, split_k.cuh). See `splitLastRoundFits`; the heuristics turn it on
   * for masked layouts.
   */
  splitLastRound: boolean;
}

/** Fields of a KernelConfig a caller may set (PlanOptions.config); a field given as `undefined` counts as not given. */
export type KernelConfigOverride = { [F in keyof KernelConfig]?: KernelConfig[F] | undefined };

/**
 * Whether `splitLastRound` is allowed: dense or masked layouts, no cluster, one wave of rows; dense
 * tiles up to 128 columns (the dense 128-row tiles of 144-192 columns spilled 12-124 bytes with it).
 */
export const splitLastRoundFits = (gemmType: GemmType, cfg: Pick<KernelConfig, "blockM" | "blockN" | "clusterM" | "clusterN">): boolean =>
  cfg.clusterM * cfg.clusterN === 1 && cfg.blockM <= 128 && (gemmType === "masked" || (gemmType === "dense" && cfg.blockN <= 128));

/** The heuristics' choice: split the last round of masked layouts wherever it is allowed (run 30). */
export const splitLastRoundFor = (gemmType: GemmType, cfg: Pick<KernelConfig, "blockM" | "blockN" | "clusterM" | "clusterN">): boolean =>
  gemmType === "masked" && splitLastRoundFits(gemmType, cfg);

/** Bytes of the split-K workspace of a grid of `ctas` CTAs: one FP32 tile and one u32 counter per CTA. */
export const splitWorkspaceBytes = (cfg: Pick<KernelConfig, "blockM" | "blockN">, ctas: number): number =>
  ctas * (cfg.blockM * cfg.blockN * 4 + 4);

/** Whether some tiles of this width cover two 128-row B-scale blocks (the kernel's kMayStraddle). */
export const blockNStraddles = (blockN: number): boolean => 128 % blockN !== 0;

/**
 * Whether a straddling BLOCK_N's split column (where its tiles switch to the next 128-row B-scale
 * block) is a run-time value in the kernel's promotion: the twin of SplitColumns::kCompileTime in
 * cuda/bungemm/fp8_gemm.cuh, which compiles one k-loop per value only for up to 5 values
 * (test/cpu/gemm-split-columns.test.ts checks the two agree). Of BLOCK_N <= 128, only 112.
 */
export function splitColumnAtRunTime(blockN: number): boolean {
  if (!blockNStraddles(blockN)) return false;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const straddling = Math.floor(((blockN < 128 ? blockN : 129) - 1) / gcd(blockN, 128));
  return straddling + 1 > 5;
}

/**
 * Whether `pipelinedPromotion` is allowed with this tile (registers, wave count). Two math
 * warpgroups cannot also hold a run-time split column: 128 x 112 spilled 12-24 bytes in its
 * run-time-stage loop (K = 512) in every variant, and rated 0.78 of 128 x 128 per FLOP when
 * pipelined anyway (run 18). Its 7 split columns at compile time instead: clean at K = 512, but 44
 * bytes of spill and a 5 s compile at K = 2048 (docs/perf-notes.md, next steps). One warpgroup
 * (64 x 112) has the room.
 */
export const pipelinedPromotionFits = (blockM: number, blockN: number): boolean =>
  blockM <= 128 && blockN <= PIPELINED_MAX_BLOCK_N && !(blockM === 128 && splitColumnAtRunTime(blockN));
/** Two BLOCK_N / 2 accumulators plus the promoted one must fit the math warpgroups' 232 registers. */
export const PIPELINED_MAX_BLOCK_N = 128;

export interface DeviceLimits {
  numSms: number;
  maxSharedBytes: number;
}

const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

export const numKBlocks = (k: number): number => Math.ceil(k / BLOCK_K);

/** Bytes of one pipeline stage: A tile, B tile and the A scales of one k-block. */
export function stageBytes(blockM: number, blockN: number): number {
  return blockM * BLOCK_K + blockN * BLOCK_K + alignUp(blockM * 4, 128);
}

/** What the shared-memory size depends on besides the tile. */
export type SharedBytesProblem = Pick<GemmProblem, "k" | "gemmType">;

/**
 * Whether a tile has the BF16 staging tile's space: for the TMA store, and in contiguous 256-row
 * tiles also for wave 0's sums while the second expert's pass runs (fp8_gemm.cuh kSmemD).
 */
export const hasStagingTile = (gemmType: GemmType, blockM: number, tmaStore: boolean): boolean =>
  tmaStore || (gemmType === "contiguous" && blockM === 256);

/** Shared memory outside the stages: alignment slack, the BF16 staging tile and the B-scale slot(s). */
export function fixedSharedBytes(blockM: number, blockN: number, p: SharedBytesProblem, tmaStore: boolean, scaleBSource: ScaleBSource): number {
  const staging = hasStagingTile(p.gemmType, blockM, tmaStore) ? alignUp(blockM * blockN * 2, 1024) : 0;
  const slot = alignUp(2 * numKBlocks(p.k), 4) * 4;
  const scales = scaleBSource === "math-staged" ? slot : 2 * slot + 32;
  return 1024 + staging + scales;
}

export function sharedMemoryBytes(cfg: KernelConfig, p: SharedBytesProblem): number {
  return fixedSharedBytes(cfg.blockM, cfg.blockN, p, cfg.tmaStore, cfg.scaleBSource) + cfg.numStages * (stageBytes(cfg.blockM, cfg.blockN) + 16);
}

/** Threads per CTA: one producer warpgroup plus one math warpgroup per 64 rows. */
export const threadsPerCta = (cfg: KernelConfig): number => 128 + (cfg.blockM === 64 ? 128 : 256);

/** Whether a BLOCK_N tile can straddle at most two 128-row B-scale blocks wherever it starts. */
export function blockNStraddlesAtMostTwo(blockN: number): boolean {
  const lowestBit = blockN & -blockN;
  return blockN <= 128 || blockN <= 128 + Math.min(lowestBit, 128);
}
