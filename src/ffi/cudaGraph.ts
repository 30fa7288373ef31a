/**
 * Raw bindings for CUDA graphs (stream capture, instantiate, launch). A table of its own, opened on
 * first use from the same libcuda as `driver()`: only code that captures graphs needs these
 * symbols, so a minimal driver (the CPU tests' stand-in libcuda) need not provide them.
 */
import { FFIType, type Library } from "bun:ffi";
import { libcudaSpec } from "./cuda.ts";
import { openLibrary } from "./library.ts";

const { i32, u64, ptr } = FFIType;
const H = u64; // CUstream, CUgraph, CUgraphExec

/** CUstreamCaptureMode (cuda.h). */
export const StreamCaptureMode = {
  CU_STREAM_CAPTURE_MODE_GLOBAL: 0,
  CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: 1,
  CU_STREAM_CAPTURE_MODE_RELAXED: 2,
} as const;

// Versioned names, as cuda.h's #defines map them (cuStreamBeginCapture → cuStreamBeginCapture_v2,
// cuGraphInstantiate → cuGraphInstantiateWithFlags).
const symbols = {
  cuStreamBeginCapture_v2: { args: [H, i32], returns: i32 },
  cuStreamEndCapture: { args: [H, ptr], returns: i32 },
  cuGraphInstantiateWithFlags: { args: [ptr, H, u64], returns: i32 },
  cuGraphLaunch: { args: [H, H], returns: i32 },
  cuGraphExecDestroy: { args: [H], returns: i32 },
  cuGraphDestroy: { args: [H], returns: i32 },
  cuThreadExchangeStreamCaptureMode: { args: [ptr], returns: i32 },
} as const;

export type GraphDriver = Library<typeof symbols>["symbols"];

let opened: GraphDriver | undefined;

/**
 * The graph symbol table, opened on the first call.
 * @throws LibraryNotFoundError when libcuda (or one of these symbols) cannot be loaded.
 */
export function graphDriver(): GraphDriver {
  opened ??= openLibrary(libcudaSpec(), symbols).symbols;
  return opened;
}
