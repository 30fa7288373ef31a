/** Argument values shared by the calibration sweeps (bench/tune.ts, bench/tune-grouped.ts). */
import type { KernelConfig } from "../src/gemm/config.ts";

/** "a,b,c;d,e,f" → [[a, b, c], [d, e, f]] (shapes or grouped rows). */
export const parseRows = (arg: string | undefined): number[][] => (arg ?? "").split(";").map((s) => s.split(",").map(Number));

/** A JSON array of partial configurations, each applied over the heuristics' choice. */
export const parseConfigs = (arg: string | undefined): Partial<KernelConfig>[] => JSON.parse(arg ?? "[]") as Partial<KernelConfig>[];
