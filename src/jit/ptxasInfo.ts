/**
 * Parses the resource report of `ptxas -v` (through `nvcc -Xptxas -v`). CI compiles every kernel
 * configuration the heuristics can pick and fails on spills, so this must read the real format:
 *
 *     ptxas info    : Compiling entry function 'heavy' for 'sm_90a'
 *     ptxas info    : Function properties for heavy
 *         1024 bytes stack frame, 752 bytes spill stores, 776 bytes spill loads
 *     ptxas info    : Used 64 registers, used 1 barriers, 1024 bytes cumulative stack size, 4096 bytes smem
 *
 * Non-inlined device functions get a "Function properties" block but no "Compiling entry" line;
 * they are reported too (their spills count), with `entry: false`.
 */

export interface PtxasFunctionInfo {
  /** The function's symbol name (mangled for non-`extern "C"` device functions). */
  name: string;
  /** True for `__global__` entries, false for non-inlined device functions. */
  entry: boolean;
  /** Registers per thread (entries only; 0 where ptxas did not say). */
  registers: number;
  spillStores: number;
  spillLoads: number;
  stackFrameBytes: number;
  /** Static shared memory (`__shared__` arrays); dynamic shared memory is not included. */
  sharedBytes: number;
}

const ENTRY = /Compiling entry function '([^']+)'/;
const PROPERTIES = /Function properties for (\S+)/;
const FRAME = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/;
const USED = /Used (\d+) registers/;
const SMEM = /(\d+) bytes smem/;

/** Returns one record per function named in `log`, in order of first mention. */
export function parsePtxasInfo(log: string): PtxasFunctionInfo[] {
  const byName = new Map<string, PtxasFunctionInfo>();
  const get = (name: string): PtxasFunctionInfo => {
    let info = byName.get(name);
    if (!info) {
      info = { name, entry: false, registers: 0, spillStores: 0, spillLoads: 0, stackFrameBytes: 0, sharedBytes: 0 };
      byName.set(name, info);
    }
    return info;
  };
  // "Used N registers" follows the properties of the entry being compiled, so it belongs to the
  // last entry seen; the frame line belongs to the last "Function properties for" header.
  let currentEntry: PtxasFunctionInfo | undefined;
  let currentProperties: PtxasFunctionInfo | undefined;
  for (const line of log.split(/\r?\n/)) {
    const entry = ENTRY.exec(line);
    if (entry) {
      currentEntry = get(entry[1] as string);
      currentEntry.entry = true;
      continue;
    }
    const properties = PROPERTIES.exec(line);
    if (properties) {
      currentProperties = get(properties[1] as string);
      continue;
    }
    const frame = FRAME.exec(line);
    if (frame && currentProperties) {
      currentProperties.stackFrameBytes = Number(frame[1]);
      currentProperties.spillStores = Number(frame[2]);
      currentProperties.spillLoads = Number(frame[3]);
      continue;
    }
    const used = USED.exec(line);
    if (used && currentEntry) {
      currentEntry.registers = Number(used[1]);
      const smem = SMEM.exec(line);
      currentEntry.sharedBytes = smem ? Number(smem[1]) : 0;
    }
  }
  return [...byName.values()];
}
