/**
 * Raw CUDA driver API bindings: the libcuda symbol table, opened on first use, and `checkCuda`.
 *
 * Symbol names are the versioned ones that cuda.h's #defines map to (cuMemAlloc → cuMemAlloc_v2,
 * …), because those are what a C program compiled against the current header calls. Handles
 * (CUcontext, CUstream, CUevent, CUmodule, CUfunction) and CUdeviceptr travel as u64 (bigint):
 * on x86-64 a pointer argument and a 64-bit integer use the same register.
 */
import { CString, FFIType, type Library, type Pointer } from "bun:ffi";
import { CudaError } from "../errors.ts";
import { readSettings } from "../env.ts";
import { CudaResult } from "./cudaConstants.ts";
import { openLibrary, type LibrarySpec } from "./library.ts";

const { i32, u32, u64, u8, ptr } = FFIType;
const H = u64; // an opaque driver handle or device pointer
const SIZE = u64; // size_t

const symbols = {
  // Init and errors
  cuInit: { args: [u32], returns: i32 },
  cuDriverGetVersion: { args: [ptr], returns: i32 },
  cuGetErrorName: { args: [i32, ptr], returns: i32 },
  cuGetErrorString: { args: [i32, ptr], returns: i32 },
  // Devices
  cuDeviceGet: { args: [ptr, i32], returns: i32 },
  cuDeviceGetCount: { args: [ptr], returns: i32 },
  cuDeviceGetName: { args: [ptr, i32, i32], returns: i32 },
  cuDeviceGetAttribute: { args: [ptr, i32, i32], returns: i32 },
  cuDeviceTotalMem_v2: { args: [ptr, i32], returns: i32 },
  // Contexts
  cuDevicePrimaryCtxRetain: { args: [ptr, i32], returns: i32 },
  cuDevicePrimaryCtxRelease_v2: { args: [i32], returns: i32 },
  cuCtxSetCurrent: { args: [H], returns: i32 },
  cuCtxGetCurrent: { args: [ptr], returns: i32 },
  cuCtxSynchronize: { args: [], returns: i32 },
  // Memory
  cuMemAlloc_v2: { args: [ptr, SIZE], returns: i32 },
  cuMemFree_v2: { args: [H], returns: i32 },
  cuMemGetInfo_v2: { args: [ptr, ptr], returns: i32 },
  cuMemsetD8_v2: { args: [H, u8, SIZE], returns: i32 },
  cuMemsetD32_v2: { args: [H, u32, SIZE], returns: i32 },
  cuMemsetD8Async: { args: [H, u8, SIZE, H], returns: i32 },
  cuMemsetD32Async: { args: [H, u32, SIZE, H], returns: i32 },
  cuMemcpyHtoD_v2: { args: [H, ptr, SIZE], returns: i32 },
  cuMemcpyDtoH_v2: { args: [ptr, H, SIZE], returns: i32 },
  cuMemcpyDtoD_v2: { args: [H, H, SIZE], returns: i32 },
  cuMemcpyHtoDAsync_v2: { args: [H, ptr, SIZE, H], returns: i32 },
  cuMemcpyDtoHAsync_v2: { args: [ptr, H, SIZE, H], returns: i32 },
  cuMemcpyDtoDAsync_v2: { args: [H, H, SIZE, H], returns: i32 },
  // Streams and events
  cuStreamCreate: { args: [ptr, u32], returns: i32 },
  cuStreamDestroy_v2: { args: [H], returns: i32 },
  cuStreamSynchronize: { args: [H], returns: i32 },
  cuEventCreate: { args: [ptr, u32], returns: i32 },
  cuEventRecord: { args: [H, H], returns: i32 },
  cuEventSynchronize: { args: [H], returns: i32 },
  cuEventElapsedTime_v2: { args: [ptr, H, H], returns: i32 },
  cuEventDestroy_v2: { args: [H], returns: i32 },
  // Modules and functions
  cuModuleLoadData: { args: [ptr, ptr], returns: i32 },
  cuModuleUnload: { args: [H], returns: i32 },
  cuModuleGetFunction: { args: [ptr, H, ptr], returns: i32 },
  cuFuncGetAttribute: { args: [ptr, i32, H], returns: i32 },
  cuFuncSetAttribute: { args: [H, i32, i32], returns: i32 },
  // Launch and TMA
  cuLaunchKernelEx: { args: [ptr, H, ptr, ptr], returns: i32 },
  cuTensorMapEncodeTiled: {
    // map, dtype, rank, globalAddress, globalDim, globalStrides, boxDim, elementStrides, interleave, swizzle, l2, oobFill
    args: [ptr, i32, u32, H, ptr, ptr, ptr, ptr, i32, i32, i32, i32],
    returns: i32,
  },
} as const;

/** The libcuda symbol table's type: `driver().cuMemAlloc_v2(out, bytes)` etc. */
export type Driver = Library<typeof symbols>["symbols"];

/** Where libcuda is searched; exported so tests and diagnostics can show the candidate list. */
export function libcudaSpec(): LibrarySpec {
  return {
    label: "libcuda (CUDA driver API)",
    envVar: "BUNGEMM_LIBCUDA",
    override: readSettings().libcudaPath,
    sonames: ["libcuda.so.1", "libcuda.so"],
    // The driver is normally in the system lib folder; toolkit folders are searched for unusual installs.
    cudaSubdirs: ["lib64", "lib"],
  };
}

let opened: Driver | undefined;

/**
 * The libcuda symbol table, opened on the first call (never at import).
 * @throws LibraryNotFoundError when no candidate loads; the next call searches again.
 */
export function driver(): Driver {
  // Failures are not cached: a test or a long-lived process may fix BUNGEMM_LIBCUDA and retry.
  opened ??= openLibrary(libcudaSpec(), symbols).symbols;
  return opened;
}

/** The table if it was already opened, else undefined; never searches. */
export function loadedDriver(): Driver | undefined {
  return opened;
}

/**
 * Throws `CudaError` unless `result` is CUDA_SUCCESS. `call` is the driver function's name.
 * The code's name and description come from the driver (cuGetErrorName/String) when it is loaded.
 */
export function checkCuda(call: string, result: number): void {
  if (result === CudaResult.CUDA_SUCCESS) return;
  throw cudaError(call, result);
}

/** Builds the error `checkCuda` throws; separate so callers that must not throw (finalizers) can log it. */
export function cudaError(call: string, code: number): CudaError {
  const lib = loadedDriver();
  const name = (lib && driverString(lib.cuGetErrorName, code)) ?? fallbackName(code);
  const description = (lib && driverString(lib.cuGetErrorString, code)) ?? "no description (driver not loaded or code unknown to it)";
  return new CudaError(call, code, name, description);
}

// One slot reused by every lookup: error paths are rare and single-threaded.
const stringOut = new BigUint64Array(1);

function driverString(fn: (code: number, out: BigUint64Array) => number, code: number): string | undefined {
  stringOut[0] = 0n;
  if (fn(code, stringOut) !== CudaResult.CUDA_SUCCESS) return undefined;
  const address = stringOut[0] ?? 0n;
  return address === 0n ? undefined : new CString(Number(address) as Pointer).toString();
}

function fallbackName(code: number): string {
  for (const [name, value] of Object.entries(CudaResult)) if (value === code) return name;
  return "CUDA_ERROR_UNRECOGNIZED";
}
