/**
 * The set of kernel configurations the heuristics can pick, grouped by what changes the compiled
 * code (tile, cluster, output path, GEMM type). CI compiles all of them with NVCC and fails on any
 * spill or stack frame (test/cpu/gemm-reachable-compile.test.ts).
 */
import { pipelinedPromotionFits, splitLastRoundFits, type DeviceLimits, type GemmProblem, type GemmType, type KernelConfig, type OutDType } from "./config.ts";
import { candidateConfigs, maxStages } from "./heuristics.ts";
import { gemmKernelName } from "./kernelSource.ts";

const SCALE_B_SOURCES = ["math-staged", "producer"] as const;

export interface ReachableKernel {
  problem: GemmProblem;
  config: KernelConfig;
}

/** H100/H200: the limits the heuristics see on the devices this library targets. */
export const HOPPER_LIMITS: DeviceLimits = { numSms: 132, maxSharedBytes: 232448 };

/**
 * Every (BLOCK_M, BLOCK_N, cluster) the heuristics consider, for every GEMM type and output path.
 * N and K are template constants too, but only through loop bounds and the B-scale buffer; K is
 * taken large (16384: the smallest stage counts) and N odd-sized for the plain-store variants. K =
 * 16384 always walks whole rounds of stages, so grouped variants at K = 2048 (a §7 shape: 16
 * k-blocks in 5 stages, math-staged B scales) and K = 512 (4 k-blocks, producer-staged B scales)
 * compile the loops with run-time stage indices too (128 x 112 pipelined spilled only there).
 */
export function reachableKernels(limits: DeviceLimits = HOPPER_LIMITS): ReachableKernel[] {
  const variants: { gemmType: GemmType; outDtype: OutDType; accumulate: boolean; n: number; k?: number }[] = [
    { gemmType: "dense", outDtype: "bf16", accumulate: false, n: 7168 },
    { gemmType: "dense", outDtype: "bf16", accumulate: false, n: 2111 },
    { gemmType: "dense", outDtype: "f32", accumulate: false, n: 7168 },
    { gemmType: "dense", outDtype: "f32", accumulate: true, n: 7168 },
    { gemmType: "contiguous", outDtype: "bf16", accumulate: false, n: 4096 },
    { gemmType: "masked", outDtype: "bf16", accumulate: false, n: 4096 },
    { gemmType: "masked", outDtype: "bf16", accumulate: false, n: 7168, k: 2048 },
    { gemmType: "masked", outDtype: "bf16", accumulate: false, n: 4096, k: 512 },
    { gemmType: "contiguous", outDtype: "bf16", accumulate: false, n: 4096, k: 512 },
    // K = 7168 (a §7 shape: 56 k-blocks, 3-5 stages) and FP32 accumulation into C for the grouped
    // layouts: contiguous 256 x 128 accumulating tiles spilled with 4 stages there (now capped at 3).
    { gemmType: "contiguous", outDtype: "bf16", accumulate: false, n: 4096, k: 7168 },
    { gemmType: "contiguous", outDtype: "f32", accumulate: true, n: 4096, k: 7168 },
    { gemmType: "contiguous", outDtype: "f32", accumulate: true, n: 4096 },
    { gemmType: "masked", outDtype: "bf16", accumulate: false, n: 4096, k: 7168 },
    // K = 2048: dense 256-row tiles take the producer-staged B scales there (16 k-blocks).
    { gemmType: "dense", outDtype: "bf16", accumulate: false, n: 7168, k: 2048 },
  ];
  const out: ReachableKernel[] = [];
  for (const v of variants) {
    const numGroups = v.gemmType === "dense" ? 1 : 8;
    // Enough rows that every cluster mode is a candidate.
    const problem: GemmProblem = { ...v, m: 4096, k: v.k ?? 16384, numGroups, expectedM: 4096 };
    for (const config of candidateConfigs(problem, limits)) {
      out.push({ problem, config });
      // Both issue orders are reachable through overrides; the ordered one exists only for BLOCK_M = 128.
      if (config.blockM >= 128) out.push({ problem, config: { ...config, orderedMath: !config.orderedMath } });
      // Pipelined promotion where it fits, and the serial variant where it is the default.
      if (pipelinedPromotionFits(config.blockM, config.blockN)) {
        out.push({ problem, config: { ...config, pipelinedPromotion: !config.pipelinedPromotion } });
      }
      // The split of the last round: masked layouts can turn it off, dense BF16 ones on (overrides).
      if (config.splitLastRound) out.push({ problem, config: { ...config, splitLastRound: false } });
      if (v.gemmType === "dense" && v.outDtype === "bf16" && v.n % 8 === 0 && splitLastRoundFits("dense", config)) {
        out.push({ problem, config: { ...config, splitLastRound: true } });
      }
      // And the other B-scale sources (overrides), for the dense BF16 path.
      if (v.gemmType === "dense" && v.outDtype === "bf16" && v.n % 8 === 0) {
        for (const scaleBSource of SCALE_B_SOURCES) {
          if (scaleBSource === config.scaleBSource) continue;
          const numStages = maxStages(config.blockM, config.blockN, problem, config.tmaStore, limits, scaleBSource);
          if (numStages > 0) out.push({ problem, config: { ...config, scaleBSource, numStages: Math.min(config.numStages, numStages) } });
        }
      }
    }
  }
  // Variants that compile to the same kernel (e.g. the issue order, which pipelined promotion
  // ignores) are listed once.
  const byName = new Map<string, ReachableKernel>();
  for (const r of out) byName.set(gemmKernelName(r.problem, r.config), r);
  return [...byName.values()];
}
