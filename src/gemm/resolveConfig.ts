/**
 * The configuration a plan uses: the heuristics' choice, with any fields the caller overrides
 * (tuning, tests), checked against the rules the kernel's static_asserts enforce so a bad override
 * fails here with a named rule rather than in the compiler.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import { HOPPER_MAX_SHARED_BYTES, PIPELINED_MAX_BLOCK_N, pipelinedPromotionFits, sharedMemoryBytes, splitLastRoundFits, splitLastRoundFor, type DeviceLimits, type GemmProblem, type KernelConfig, type KernelConfigOverride } from "./config.ts";
import { pipelinedPromotionFor, selectConfig, stagesFor, twoWaveClusterFits } from "./heuristics.ts";

/** What the heuristics see of `device`, with at most `maxSms` of its SMs (the plan option; default all). */
export function deviceLimits(device: Device, maxSms?: number): DeviceLimits {
  return { numSms: usableSms(device, maxSms), maxSharedBytes: Math.min(device.maxSharedMemoryPerBlockOptin, HOPPER_MAX_SHARED_BYTES) };
}

/**
 * The SMs a plan may occupy: `maxSms` (PlanOptions.maxSms) checked against the device, or all of them.
 * @throws InvalidArgumentError for anything but an integer from 1 to the device's SM count.
 */
export function usableSms(device: Device, maxSms?: number): number {
  if (maxSms === undefined) return device.smCount;
  if (!Number.isInteger(maxSms) || maxSms < 1 || maxSms > device.smCount) {
    throw new InvalidArgumentError("options.maxSms", `must be an integer from 1 to the device's SM count (${device.smCount})`, maxSms);
  }
  return maxSms;
}

export function resolveConfig(p: GemmProblem, limits: DeviceLimits, override: KernelConfigOverride = {}): KernelConfig {
  const base = selectConfig(p, limits);
  // Not a plain spread: `{ numStages: undefined }` (options built from optional variables) would
  // replace the heuristics' value with undefined.
  const given = Object.fromEntries(Object.entries(override).filter(([, value]) => value !== undefined));
  const merged: KernelConfig = { ...base, ...given };
  if (override.blockM !== undefined || override.blockN !== undefined || override.scaleBSource !== undefined) {
    // Re-derive the stage count for the new tile unless it was given too.
    if (override.numStages === undefined) merged.numStages = stagesFor(p, merged.blockM, merged.blockN, merged.tmaStore, limits, merged.scaleBSource);
    // Likewise whether the promotion is pipelined (it depends on the tile).
    if (override.pipelinedPromotion === undefined) merged.pipelinedPromotion = pipelinedPromotionFor(merged.blockM, merged.blockN);
  }
  // The split of the last round follows the tile and cluster unless it was given too.
  if (override.splitLastRound === undefined) merged.splitLastRound = splitLastRoundFor(p.gemmType, merged);
  if (merged.numStages < 2) throw new InvalidArgumentError("config", "the tile leaves no room for a 2-stage pipeline", merged);
  const bytes = sharedMemoryBytes(merged, p);
  if (bytes > limits.maxSharedBytes) {
    throw new InvalidArgumentError("config.numStages", `needs ${bytes} bytes of shared memory; the device allows ${limits.maxSharedBytes}`, merged.numStages);
  }
  if (merged.blockM === 256 && merged.blockN > 128) {
    throw new InvalidArgumentError("config.blockN", "BLOCK_M = 256 holds two waves of accumulators: BLOCK_N must be at most 128", merged.blockN);
  }
  if (merged.blockM === 256 && merged.clusterM * merged.clusterN > 1 && !twoWaveClusterFits(merged.blockN, merged.tmaStore)) {
    throw new InvalidArgumentError("config", "BLOCK_M = 256 in a cluster needs BLOCK_N = 128 and the TMA-store epilogue (otherwise its multicast producer spills)", merged);
  }
  if (merged.pipelinedPromotion && !pipelinedPromotionFits(merged.blockM, merged.blockN)) {
    throw new InvalidArgumentError("config.pipelinedPromotion", `needs BLOCK_M <= 128 and BLOCK_N <= ${PIPELINED_MAX_BLOCK_N}, not 128 x 112 (a run-time split column: it spills)`, merged);
  }
  if (merged.splitLastRound && !splitLastRoundFits(p.gemmType, merged)) {
    throw new InvalidArgumentError("config.splitLastRound", "splits the last round of masked layouts, and of dense ones with BLOCK_N <= 128, without a cluster and with BLOCK_M <= 128", merged);
  }
  if (merged.clusterM * merged.clusterN > limits.numSms) {
    throw new InvalidArgumentError("config", `a cluster of ${merged.clusterM * merged.clusterN} CTAs needs at least as many SMs; maxSms allows ${limits.numSms}`, merged);
  }
  if (merged.clusterM > 1 && merged.clusterN > 1) throw new InvalidArgumentError("config", "a cluster shares A (clusterN) or B (clusterM), not both", merged);
  if (merged.clusterM > 1 && p.gemmType === "contiguous") {
    throw new InvalidArgumentError("config.clusterM", "contiguous grouped GEMMs cannot share B across m-blocks (they may be different experts)", merged.clusterM);
  }
  return merged;
}
