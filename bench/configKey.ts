/** One-line label of a kernel configuration for the calibration sweeps (bench/tune*.ts); distinct configurations get distinct labels. */
import type { KernelConfig } from "../src/gemm/config.ts";

/** The rasterisation strip the heuristics always pick; other widths are labelled. */
const DEFAULT_RASTER_GROUP_N = 8;

export const configKey = (c: KernelConfig): string =>
  `${c.blockM}x${c.blockN} s${c.numStages} c${c.clusterM}x${c.clusterN}${c.orderedMath && !c.pipelinedPromotion ? " ord" : ""}${" sfb-" + c.scaleBSource}${c.pipelinedPromotion ? " pipe" : ""}${c.splitLastRound ? " splitk" : ""}${c.tmaStore ? "" : " plain"}${c.rasterGroupN === DEFAULT_RASTER_GROUP_N ? "" : ` r${c.rasterGroupN}`}`;
