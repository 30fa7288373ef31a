/**
 * Raw NVRTC bindings: the libnvrtc symbol table, opened on first use, and `checkNvrtc`.
 * nvrtcProgram handles travel as u64 (bigint), like the driver's handles in cuda.ts.
 */
import { FFIType, type Library } from "bun:ffi";
import { readSettings } from "../env.ts";
import { NvrtcError } from "../errors.ts";
import { libraryPath, openLibrary, type LibrarySpec } from "./library.ts";

const { i32, u64, ptr, cstring } = FFIType;
const PROGRAM = u64; // nvrtcProgram, an opaque pointer

const symbols = {
  nvrtcVersion: { args: [ptr, ptr], returns: i32 },
  nvrtcGetErrorString: { args: [i32], returns: cstring },
  // prog*, src, name, numHeaders, headers, includeNames
  nvrtcCreateProgram: { args: [ptr, ptr, ptr, i32, ptr, ptr], returns: i32 },
  nvrtcDestroyProgram: { args: [ptr], returns: i32 },
  nvrtcCompileProgram: { args: [PROGRAM, i32, ptr], returns: i32 },
  nvrtcGetProgramLogSize: { args: [PROGRAM, ptr], returns: i32 },
  nvrtcGetProgramLog: { args: [PROGRAM, ptr], returns: i32 },
  nvrtcGetCUBINSize: { args: [PROGRAM, ptr], returns: i32 },
  nvrtcGetCUBIN: { args: [PROGRAM, ptr], returns: i32 },
} as const;

/** The libnvrtc symbol table's type. */
export type Nvrtc = Library<typeof symbols>["symbols"];

/** nvrtcResult codes bungemm branches on (nvrtc.h). */
export const NvrtcResult = {
  NVRTC_SUCCESS: 0,
  NVRTC_ERROR_INVALID_OPTION: 5,
  NVRTC_ERROR_COMPILATION: 6,
} as const;

/** Where libnvrtc is searched; exported so tests and diagnostics can show the candidate list. */
export function libnvrtcSpec(): LibrarySpec {
  return {
    label: "libnvrtc (CUDA runtime compiler)",
    envVar: "BUNGEMM_LIBNVRTC",
    override: readSettings().libnvrtcPath,
    // 13 first: sm_90a kernels and this code are tested with CUDA 13; 12.x also compiles sm_90a.
    sonames: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"],
    cudaSubdirs: ["lib64", "lib", "targets/x86_64-linux/lib"],
    pythonPackages: true,
  };
}

let opened: Library<typeof symbols> | undefined;

/**
 * The libnvrtc symbol table, opened on the first call (never at import).
 * @throws LibraryNotFoundError when no candidate loads; failures are not cached, the next call searches again.
 */
export function nvrtc(): Nvrtc {
  opened ??= openLibrary(libnvrtcSpec(), symbols);
  return opened.symbols;
}

/** The file libnvrtc was loaded from, once loaded. */
export function loadedNvrtcPath(): string | undefined {
  return opened === undefined ? undefined : libraryPath(opened);
}

/**
 * Throws `NvrtcError` unless `result` is NVRTC_SUCCESS. `log` (the program log) travels in the error.
 * Only called after `nvrtc()` succeeded, so the library's own name for the code is available.
 */
export function checkNvrtc(call: string, result: number, log = ""): void {
  if (result === NvrtcResult.NVRTC_SUCCESS) return;
  const name = opened?.symbols.nvrtcGetErrorString(result)?.toString() ?? `nvrtcResult ${result}`;
  throw new NvrtcError(call, result, name, log);
}
