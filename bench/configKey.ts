/** One-line label of a kernel configuration for the calibration sweeps (bench/tune*.ts); distinct configurations get distinct labels. */
import type { KernelConfig } from "../src/gemm/config.ts";

/** The rasterisation strip the heuristics always pick; other widths are labelled. */
const DEFAULT_RASTER_GROUP_N = 8;

export const configKey = (c: KernelConfig): string =>
  `${c.blockM}x${c.blockN} s${c.numStages} c${c.clusterM}x${c.clusterN}${c.orderedMath && !c.pipelinedPromotion ? " ord" : ""}${" sfb-" + c.scaleBSource}${c.pipelinedPromotion ? " pipe" : ""}${c.splitLastRound ? " splitk" : ""}${c.tmaStore ? "" : " plain"}${c.rasterGroupN === DEFAULT_RASTER_GROUP_N ? "" : ` r${c.rasterGroupN}`}`;

/** One printed sweep result: label, time, TFLOPS, an optional note, the model's estimate, and a mark on the heuristics' choice. */
export const sweepLine = (r: { label: string; us: number; tflops: number; note?: string; modelUs: number; chosen: boolean }): string =>
  `${r.label.padEnd(22)} ${r.us.toFixed(1).padStart(8)} us ${r.tflops.toFixed(0).padStart(5)} TFLOPS${r.note ? ` (${r.note})` : ""}  model ${r.modelUs.toFixed(1)} us${r.chosen ? "  <- heuristics" : ""}`;
