/**
 * Opt-in checks of the device-side grouping data (BUNGEMM_DEBUG_CHECKS=1 or `debugChecks: true`).
 *
 * Without them the kernel never faults on bad values: the scheduler skips tiles whose group id is
 * outside [0, G) and clamps maskedM into [0, M_max]. But the result is then silently not what the
 * caller meant (rows left unwritten), so while debugging it is worth a synchronising copy to the
 * host to say which entry is wrong. The rules are pure functions on host arrays, tested on the CPU.
 */
import { DeviceDataError } from "../errors.ts";
import { readSettings } from "../env.ts";
import type { Stream } from "../runtime/stream.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { M_ALIGNMENT } from "./groupedShapes.ts";

/**
 * The contiguous layout rules, per M_ALIGNMENT-row block of mIndices (each such block belongs to
 * one expert's padded segment, or is all padding):
 * - every entry is -1 (padding) or a group id in [0, G);
 * - the real rows come first: a real row after a padding row is refused (the kernel takes a tile's
 *   group from its first row, so it would skip that row);
 * - the real rows of one block belong to one group (a tile serves one expert's weights).
 * @throws DeviceDataError naming the first offending row and its value.
 */
export function checkMIndices(mIndices: Int32Array, numGroups: number): void {
  for (let blockStart = 0; blockStart < mIndices.length; blockStart += M_ALIGNMENT) {
    const blockEnd = Math.min(mIndices.length, blockStart + M_ALIGNMENT);
    let group = -1;
    let sawPadding = false;
    for (let row = blockStart; row < blockEnd; row++) {
      const g = mIndices[row]!;
      if (g < -1 || g >= numGroups) throw new DeviceDataError("mIndices", `must be -1 (padding) or a group id in [0, ${numGroups})`, row, g);
      if (g === -1) {
        sawPadding = true;
        continue;
      }
      if (sawPadding) {
        throw new DeviceDataError("mIndices", `a real row may not follow a padding row inside a ${M_ALIGNMENT}-row segment block (rows ${blockStart}..${blockEnd - 1})`, row, g);
      }
      if (group !== -1 && g !== group) {
        throw new DeviceDataError("mIndices", `the rows of a ${M_ALIGNMENT}-row block must all belong to group ${group} (segments are padded to ${M_ALIGNMENT})`, row, g);
      }
      group = g;
    }
  }
}

/**
 * maskedM[g] must be a row count in [0, M_max].
 * @throws DeviceDataError naming the first offending group and its value.
 */
export function checkMaskedM(maskedM: Int32Array, mMax: number): void {
  for (let g = 0; g < maskedM.length; g++) {
    const v = maskedM[g]!;
    if (v < 0 || v > mMax) throw new DeviceDataError("maskedM", `must be a row count in [0, M_max = ${mMax}]`, g, v);
  }
}

/**
 * Whether a plan runs the debug checks: its own option first, else BUNGEMM_DEBUG_CHECKS. Read once
 * per plan, so a warm call does not parse the environment.
 */
export function debugChecksDefault(option: boolean | undefined): boolean {
  return option ?? readSettings().debugChecks;
}

/**
 * Copies an i32 tensor to the host after the work queued on `stream` (which may be writing it) is
 * done. Synchronising: never inside a CUDA graph capture.
 */
export function readIndices(t: Tensor, stream: Stream | undefined): Int32Array {
  return t.toHost(stream) as Int32Array;
}
