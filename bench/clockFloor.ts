/**
 * The clock's floor: an empty kernel timed exactly like every benchmark row (L2 flush, two events
 * around one launch, median). What it reports is included in every time of the run, ours and
 * cuBLASLt's alike. A profiler's kernel duration leaves out only part of it: ncu measured the same
 * launches 1.2-1.9 µs below their event times, and the empty kernel at 1.25 µs (perf notes, run 38).
 */
import { getKernel } from "../src/jit/jit.ts";
import { KernelArgs } from "../src/runtime/kernelArgs.ts";
import { launchKernel } from "../src/runtime/launch.ts";
import type { BenchContext } from "./suite.ts";

const EMPTY_KERNEL = "bungemm_bench_empty";
const EMPTY_SOURCE = `extern "C" __global__ void ${EMPTY_KERNEL}() {}\n`;

/** Median µs of one empty one-CTA launch between the timer's events. */
export function measureClockFloorUs(ctx: BenchContext): number {
  const fn = getKernel(ctx.device, { name: EMPTY_KERNEL, source: EMPTY_SOURCE });
  const args = new KernelArgs([]);
  const launch = { grid: [1, 1, 1] as [number, number, number], block: [32, 1, 1] as [number, number, number], sharedBytes: 0, stream: ctx.stream };
  return ctx.timer.time(() => launchKernel(fn, launch, args), ctx.timing).medianUs;
}
