/**
 * The one place bungemm reads environment variables. Each is documented in the README.
 * Read lazily (at first use), so tests can set them before touching the library.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export interface Settings {
  /** BUNGEMM_CACHE_DIR: where compiled kernels are kept. Default: $XDG_CACHE_HOME/bungemm or ~/.cache/bungemm. */
  cacheDir: string;
  /** BUNGEMM_COMPILER: "nvrtc" | "nvcc" | "auto" (default auto: NVRTC when it loads, else nvcc). */
  compiler: "nvrtc" | "nvcc" | "auto";
  /** BUNGEMM_PRINT_COMPILE=1: print each kernel compile with its time to stderr. */
  printCompile: boolean;
  /** BUNGEMM_LIBCUDA: path to libcuda.so.1. */
  libcudaPath: string | undefined;
  /** BUNGEMM_LIBNVRTC: path to libnvrtc.so.*. */
  libnvrtcPath: string | undefined;
  /** BUNGEMM_LIBCUBLASLT: path to libcublasLt.so.* (benchmark only). */
  libcublasLtPath: string | undefined;
  /** BUNGEMM_NVCC: path to nvcc. */
  nvccPath: string | undefined;
  /** CUDA_HOME / CUDA_PATH: CUDA install root searched for libraries and nvcc. */
  cudaHome: string | undefined;
  /** BUNGEMM_DEBUG_CHECKS=1: validate device-side indices (mIndices, maskedM) before grouped launches. */
  debugChecks: boolean;
  /** BUNGEMM_LINEINFO=1: compile kernels with `-lineinfo`, so profilers map SASS to source lines. */
  lineInfo: boolean;
}

const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

/** Reads the settings from `process.env` (or the given map). Cheap; not cached, so tests can vary them. */
export function readSettings(env: Record<string, string | undefined> = process.env): Settings {
  const compiler = (env["BUNGEMM_COMPILER"] ?? "auto").toLowerCase();
  if (compiler !== "nvrtc" && compiler !== "nvcc" && compiler !== "auto") {
    throw new Error(`BUNGEMM_COMPILER must be nvrtc, nvcc or auto (got ${JSON.stringify(env["BUNGEMM_COMPILER"])})`);
  }
  const xdg = nonEmpty(env["XDG_CACHE_HOME"]);
  return {
    cacheDir: nonEmpty(env["BUNGEMM_CACHE_DIR"]) ?? join(xdg ?? join(homedir(), ".cache"), "bungemm"),
    compiler,
    printCompile: truthy(env["BUNGEMM_PRINT_COMPILE"]),
    libcudaPath: nonEmpty(env["BUNGEMM_LIBCUDA"]),
    libnvrtcPath: nonEmpty(env["BUNGEMM_LIBNVRTC"]),
    libcublasLtPath: nonEmpty(env["BUNGEMM_LIBCUBLASLT"]),
    nvccPath: nonEmpty(env["BUNGEMM_NVCC"]),
    cudaHome: nonEmpty(env["CUDA_HOME"]) ?? nonEmpty(env["CUDA_PATH"]),
    debugChecks: truthy(env["BUNGEMM_DEBUG_CHECKS"]),
    lineInfo: truthy(env["BUNGEMM_LINEINFO"]),
  };
}
