/**
 * A post-pass over a compiled GEMM kernel's promotion: the long runs of register-form FFMAs that
 * fold each k-block's tensor-core partial sums into the FP32 accumulators. ptxas marks every other
 * FFMA of such a run as a yield point (and lets only the others keep operand b in the reuse cache);
 * whether the math warps should yield more or less often there, so the other warpgroup's WGMMA
 * issue and the producer interleave with the promotion, is a measured choice (docs/perf-notes.md).
 *
 * Only two kinds of edit are made, both hints that cannot change results: the yield flag, and
 * clearing operand-reuse flags (a cleared flag makes the next instruction read the register file).
 * A reuse flag is never set.
 */
import {
  FFMA_REGISTER_FORM,
  INSTRUCTION_BYTES,
  kernelTextSection,
  opcodeOf,
  readInstruction,
  REUSE_A_BIT,
  REUSE_B_BIT,
  REUSE_C_BIT,
  writeInstruction,
  YIELD_BIT,
} from "./cubinText.ts";

/**
 * - `compiler`: leave ptxas's choice.
 * - `yield-all`: every FFMA of a run yields (and therefore keeps nothing in the reuse cache).
 * - `yield-none`: no FFMA of a run yields (reuse flags as ptxas set them).
 */
export type FfmaSchedule = "compiler" | "yield-all" | "yield-none";
export const FFMA_SCHEDULES: readonly FfmaSchedule[] = ["compiler", "yield-all", "yield-none"];

/** Runs shorter than this are not a promotion (address arithmetic, epilogue scaling). */
export const MIN_PROMOTION_RUN = 16;

export interface FfmaScheduleResult {
  cubin: Uint8Array;
  /** FFMAs inside promotion runs. */
  promotionFfmas: number;
  /** Instructions whose control bits changed. */
  changed: number;
}

/** Returns a copy of `cubin` with the promotion runs of `kernelName` rescheduled per `schedule`. */
export function rescheduleFfmaRuns(cubin: Uint8Array, kernelName: string, schedule: FfmaSchedule): FfmaScheduleResult {
  const out = cubin.slice();
  if (schedule === "compiler") return { cubin: out, promotionFfmas: 0, changed: 0 };
  const { offset, size } = kernelTextSection(out, kernelName);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const count = size / INSTRUCTION_BYTES;
  let promotionFfmas = 0;
  let changed = 0;
  let index = 0;
  while (index < count) {
    let end = index;
    while (end < count && opcodeOf(readInstruction(view, offset + end * INSTRUCTION_BYTES)) === FFMA_REGISTER_FORM) end++;
    if (end - index >= MIN_PROMOTION_RUN) {
      promotionFfmas += end - index;
      for (let i = index; i < end; i++) {
        const at = offset + i * INSTRUCTION_BYTES;
        const before = readInstruction(view, at);
        const high = reschedule(before.high, schedule);
        if (high !== before.high) {
          writeInstruction(view, at, { low: before.low, high });
          changed++;
        }
      }
    }
    index = Math.max(end, index + 1);
  }
  return { cubin: out, promotionFfmas, changed };
}

// In these control bits a set yield flag keeps the warp issuing (ptxas pairs it with reuse); a
// clear one lets the scheduler switch warps, after which the reuse cache holds nothing useful.
function reschedule(high: bigint, schedule: Exclude<FfmaSchedule, "compiler">): bigint {
  if (schedule === "yield-none") return high | YIELD_BIT;
  return high & ~(YIELD_BIT | REUSE_A_BIT | REUSE_B_BIT | REUSE_C_BIT);
}
