/**
 * What every kernel compiler backend (NVRTC in-process, NVCC as a subprocess) offers the JIT.
 * The target architecture is part of the request, never read from a device, so kernels can be
 * compiled (and their resource usage checked) on a machine without a GPU.
 */
import type { PtxasFunctionInfo } from "./ptxasInfo.ts";

/** The architectures bungemm generates code for; WGMMA and setmaxnreg need the `a` variant. */
export type TargetArch = "sm_90a";

export type CompilerBackend = "nvrtc" | "nvcc";

export interface CompileRequest {
  /** The whole translation unit: no host headers, `extern "C" __global__` entry. */
  source: string;
  /** The `extern "C"` entry; names the program in logs and errors. */
  kernelName: string;
  arch: TargetArch;
  /** `-I` folders, in order; the package's `cuda/` is normally the first. */
  includeDirs: readonly string[];
  /** `-D` macros. */
  defines?: Readonly<Record<string, string | number>>;
  /** Options passed as they are to both backends (for example `-lineinfo`). */
  extraOptions?: readonly string[];
}

export interface CompileResult {
  cubin: Uint8Array;
  /** Everything the compiler printed (warnings; for NVCC also `ptxas -v`). */
  log: string;
  /** Wall time of the compile. */
  ms: number;
  /** Per-function register, spill, stack and shared-memory use, when the backend reports it (NVCC). */
  resources?: readonly PtxasFunctionInfo[];
}

export interface Compiler {
  readonly backend: CompilerBackend;
  /** The compiler's own version (for NVCC the full release, e.g. "13.0.88"); part of the cache key. */
  version(): string;
  /**
   * The exact options this backend would use for `req` (besides input and output names).
   * Part of the cache key, so a change of flags in this code also invalidates cached cubins.
   */
  options(req: CompileRequest): string[];
  /** @throws CompileError with the compiler's log when the source does not compile. */
  compile(req: CompileRequest): CompileResult;
}

/**
 * Options both backends share, in the spelling both accept. IEEE division/sqrt/denormals are kept
 * (no `--use_fast_math`): the promotion step must match the f64 reference to FP8-input level.
 */
export function commonOptions(req: CompileRequest): string[] {
  const options = ["-std=c++17"];
  for (const dir of req.includeDirs) options.push(`-I${dir}`);
  for (const [name, value] of Object.entries(req.defines ?? {})) options.push(`-D${name}=${value}`);
  options.push(...(req.extraOptions ?? []));
  return options;
}
