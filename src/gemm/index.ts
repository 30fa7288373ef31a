export { fp8GemmNt, planFp8GemmNt, type Fp8GemmNtArgs, type Fp8GemmNtShape, type PlanOptions } from "./dense.ts";
export { GemmPlan, type GemmOperands } from "./plan.ts";
export { selectConfig, candidateConfigs, estimateSeconds, BLOCK_N_CANDIDATES } from "./heuristics.ts";
export { BLOCK_K, sharedMemoryBytes, type GemmProblem, type GemmType, type KernelConfig, type OutDType, type DeviceLimits } from "./config.ts";
