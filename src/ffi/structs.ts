/**
 * Byte layouts of the driver structs bungemm builds in JS memory, and their packers.
 * Offsets are pinned to cuda.h by test/cpu/structs.test.ts (a C program prints offsetof/sizeof).
 *
 * Packers write into a caller-kept buffer (the lifetime rule: C reads it during the call, so the
 * caller holds it until then) and allocate nothing when given one, so launches stay allocation-free.
 */
import { ptr } from "bun:ffi";
import { InvalidArgumentError } from "../errors.ts";
import { LaunchAttributeId } from "./cudaConstants.ts";

/** CUlaunchConfig (x86-64): seven u32, padding, then three 8-byte fields. */
export const LAUNCH_CONFIG = {
  size: 56,
  gridDimX: 0,
  gridDimY: 4,
  gridDimZ: 8,
  blockDimX: 12,
  blockDimY: 16,
  blockDimZ: 20,
  sharedMemBytes: 24,
  hStream: 32,
  attrs: 40,
  numAttrs: 48,
} as const;

/** CUlaunchAttribute: u32 id, 4 bytes of padding, a 64-byte value union (clusterDim = three u32 at its start). */
export const LAUNCH_ATTRIBUTE = {
  size: 72,
  id: 0,
  value: 8,
  clusterDimX: 8,
  clusterDimY: 12,
  clusterDimZ: 16,
} as const;

/** sizeof(CUtensorMap): 16 opaque u64 words. */
export const TENSOR_MAP_BYTES = 128;
/** cuTensorMapEncodeTiled requires the map's address to be 64-byte aligned. */
export const TENSOR_MAP_ALIGN = 64;

export type Dim3 = readonly [number, number, number];

/** Fields of CUlaunchConfig; `stream` and `attrs` are addresses (0n for the legacy stream / no attributes). */
export interface LaunchConfigFields {
  grid: Dim3;
  block: Dim3;
  sharedBytes: number;
  stream: bigint;
  attrs: bigint;
  numAttrs: number;
}

/** Writes a CUlaunchConfig into `out` (allocated when absent) and returns it. */
export function packLaunchConfig(fields: LaunchConfigFields, out: Uint8Array = new Uint8Array(LAUNCH_CONFIG.size)): Uint8Array {
  const view = viewOf(out, LAUNCH_CONFIG.size);
  const L = LAUNCH_CONFIG;
  view.setUint32(L.gridDimX, fields.grid[0], true);
  view.setUint32(L.gridDimY, fields.grid[1], true);
  view.setUint32(L.gridDimZ, fields.grid[2], true);
  view.setUint32(L.blockDimX, fields.block[0], true);
  view.setUint32(L.blockDimY, fields.block[1], true);
  view.setUint32(L.blockDimZ, fields.block[2], true);
  view.setUint32(L.sharedMemBytes, fields.sharedBytes, true);
  view.setUint32(L.sharedMemBytes + 4, 0, true);
  view.setBigUint64(L.hStream, fields.stream, true);
  view.setBigUint64(L.attrs, fields.attrs, true);
  view.setUint32(L.numAttrs, fields.numAttrs, true);
  view.setUint32(L.numAttrs + 4, 0, true);
  return out;
}

/** Writes a CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION attribute into `out` (allocated when absent) and returns it. */
export function packLaunchAttributeClusterDim(cluster: Dim3, out: Uint8Array = new Uint8Array(LAUNCH_ATTRIBUTE.size)): Uint8Array {
  const view = viewOf(out, LAUNCH_ATTRIBUTE.size);
  // The rest of the 64-byte union must be zero: the driver may read more than clusterDim.
  out.fill(0, 0, LAUNCH_ATTRIBUTE.size);
  view.setUint32(LAUNCH_ATTRIBUTE.id, LaunchAttributeId.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION, true);
  view.setUint32(LAUNCH_ATTRIBUTE.clusterDimX, cluster[0], true);
  view.setUint32(LAUNCH_ATTRIBUTE.clusterDimY, cluster[1], true);
  view.setUint32(LAUNCH_ATTRIBUTE.clusterDimZ, cluster[2], true);
  return out;
}

/**
 * A 128-byte view whose address is 64-byte aligned, for cuTensorMapEncodeTiled to write into.
 * Backed by its own ArrayBuffer (never moved by the GC), over-allocated to find the alignment.
 */
export function allocTensorMapStorage(): Uint8Array {
  return alignedBytes(TENSOR_MAP_BYTES, TENSOR_MAP_ALIGN);
}

/** `bytes` zeroed bytes starting at an address that is a multiple of `align` (a power of two). */
export function alignedBytes(bytes: number, align: number): Uint8Array {
  const buffer = new ArrayBuffer(bytes + align);
  const base = ptr(buffer);
  const shift = (align - (base % align)) % align;
  return new Uint8Array(buffer, shift, bytes);
}

// The packers are called with the same few buffers again and again (one or two per launcher);
// remembering each buffer's DataView avoids allocating one per launch.
const views = new WeakMap<Uint8Array, DataView>();

function viewOf(bytes: Uint8Array, size: number): DataView {
  if (bytes.byteLength < size) throw new InvalidArgumentError("struct buffer", `needs at least ${size} bytes`, bytes.byteLength);
  let view = views.get(bytes);
  if (view === undefined) {
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    views.set(bytes, view);
  }
  return view;
}
