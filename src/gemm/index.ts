export { fp8GemmNt, planFp8GemmNt, type Fp8GemmNtArgs, type Fp8GemmNtShape, type PlanOptions } from "./dense.ts";
export { GemmPlan, type GemmOperands } from "./plan.ts";
export { selectConfig, candidateConfigs, estimateSeconds, BLOCK_N_CANDIDATES } from "./heuristics.ts";
export { BLOCK_K, sharedMemoryBytes, type GemmProblem, type GemmType, type KernelConfig, type KernelConfigOverride, type OutDType, type DeviceLimits } from "./config.ts";
export {
  mGroupedFp8GemmNtContiguous,
  mGroupedFp8GemmNtMasked,
  planMGroupedFp8GemmNtContiguous,
  planMGroupedFp8GemmNtMasked,
  MGroupedContiguousPlan,
  MGroupedMaskedPlan,
  M_ALIGNMENT,
  type MGroupedContiguousArgs,
  type MGroupedContiguousShape,
  type MGroupedMaskedArgs,
  type MGroupedMaskedShape,
  type GroupedPlanOptions,
  type GroupedCallOptions,
} from "./grouped.ts";
export { contiguousLayout, scatterRowsToContiguous, gatherRowsFromContiguous, type ContiguousLayout, type RowArray } from "./moeLayout.ts";
export { buildMIndices, planBuildMIndices, MIndicesBuildPlan, MOE_LAYOUT_MAX_GROUPS, type MIndicesBuildArgs, type MIndicesBuildShape } from "./moeLayoutKernel.ts";
