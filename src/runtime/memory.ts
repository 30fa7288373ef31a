/**
 * Device memory: owned buffers, memset, and copies between host views and device memory.
 */
import { ptr, type Pointer } from "bun:ffi";
import { checkCuda, driver } from "../ffi/cuda.ts";
import { InvalidArgumentError } from "../errors.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";
import type { Device } from "./device.ts";
import { checkStream, type Stream } from "./stream.ts";

/** A range of device memory: a `DeviceBuffer`, or a slice of one (a tensor view) described by address and length. */
export interface DeviceMemory {
  readonly ptr: bigint;
  readonly bytes: number;
  /** True once the memory was freed (a graph that captured a copy into it refuses to replay then). */
  readonly disposed: boolean;
}

const MEM_FREE: Destroyer = { call: "cuMemFree_v2", destroy: (ptr) => driver().cuMemFree_v2(ptr) };

/**
 * Device memory owned by JS; free it with `dispose()` or `using`. Work still queued that uses the
 * buffer must be finished before dispose (cuMemFree does not wait for other streams).
 */
export class DeviceBuffer extends DriverHandle implements DeviceMemory {
  private constructor(
    device: Device,
    address: bigint,
    readonly bytes: number,
  ) {
    super(device, address, "DeviceBuffer", MEM_FREE);
  }

  /**
   * Allocates `bytes` bytes (cuMemAlloc: 256-byte aligned, uninitialised) on `device`.
   * @throws InvalidArgumentError for a size that is not a positive safe integer; CudaError when out of memory.
   */
  static alloc(device: Device, bytes: number): DeviceBuffer {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new InvalidArgumentError("bytes", "must be a positive integer", bytes);
    }
    device.activate();
    const out = new BigUint64Array(1);
    checkCuda("cuMemAlloc_v2", driver().cuMemAlloc_v2(out, bytes));
    return new DeviceBuffer(device, out[0] ?? 0n, bytes);
  }

  /** The device address. @throws DisposedError after dispose(), so a freed address never reaches a kernel. */
  get ptr(): bigint {
    return this.liveHandle;
  }
}

/** Sets every byte of `dst` to `value` (0..255). Async on `stream` when given. */
export function memsetD8(dst: DeviceMemory, value: number, stream?: Stream): void {
  checkByte(value);
  checkStream("stream", stream, undefined);
  const cu = driver();
  if (stream) {
    checkCuda("cuMemsetD8Async", cu.cuMemsetD8Async(dst.ptr, value, dst.bytes, stream.handle));
    if (stream.capturing) stream.noteCaptured("memsetD8", [dst]);
  } else checkCuda("cuMemsetD8_v2", cu.cuMemsetD8_v2(dst.ptr, value, dst.bytes));
}

/**
 * Sets every 32-bit word of `dst` to `value` (a u32 bit pattern; use a Float32Array/Uint32Array
 * round trip for floats). `dst` must be 4-byte aligned and a whole number of words.
 */
export function memsetD32(dst: DeviceMemory, value: number, stream?: Stream): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InvalidArgumentError("value", "must be a u32 bit pattern", value);
  }
  if (dst.ptr % 4n !== 0n || dst.bytes % 4 !== 0) {
    throw new InvalidArgumentError("dst", "memsetD32 needs a 4-byte aligned address and a length that is a multiple of 4", dst.bytes);
  }
  checkStream("stream", stream, undefined);
  const cu = driver();
  const words = dst.bytes / 4;
  if (stream) {
    checkCuda("cuMemsetD32Async", cu.cuMemsetD32Async(dst.ptr, value, words, stream.handle));
    if (stream.capturing) stream.noteCaptured("memsetD32", [dst]);
  } else checkCuda("cuMemsetD32_v2", cu.cuMemsetD32_v2(dst.ptr, value, words));
}

/**
 * Copies all of `src` to the start of `dst`. With `stream`, the copy is queued and `src` is kept
 * referenced by the stream until it is synchronised.
 */
export function copyHostToDevice(dst: DeviceMemory, src: ArrayBufferView, stream?: Stream): void {
  const bytes = src.byteLength;
  checkFits("src", bytes, dst.bytes);
  checkStream("stream", stream, undefined);
  if (bytes === 0) return;
  const cu = driver();
  if (stream) {
    checkCuda("cuMemcpyHtoDAsync_v2", cu.cuMemcpyHtoDAsync_v2(dst.ptr, hostPointer(src), bytes, stream.handle));
    stream.retainUntilSync(src);
    if (stream.capturing) stream.noteCaptured("copyHostToDevice", [dst, src]);
  } else {
    checkCuda("cuMemcpyHtoD_v2", cu.cuMemcpyHtoD_v2(dst.ptr, hostPointer(src), bytes));
  }
}

/**
 * Copies the first `dst.byteLength` bytes of `src` into `dst`. With `stream`, `dst` holds the data
 * only after the stream is synchronised, and is kept referenced until then.
 */
export function copyDeviceToHost(dst: ArrayBufferView, src: DeviceMemory, stream?: Stream): void {
  const bytes = dst.byteLength;
  checkFits("dst", bytes, src.bytes);
  checkStream("stream", stream, undefined);
  if (bytes === 0) return;
  const cu = driver();
  if (stream) {
    checkCuda("cuMemcpyDtoHAsync_v2", cu.cuMemcpyDtoHAsync_v2(hostPointer(dst), src.ptr, bytes, stream.handle));
    stream.retainUntilSync(dst);
    if (stream.capturing) stream.noteCaptured("copyDeviceToHost", [src, dst]);
  } else {
    checkCuda("cuMemcpyDtoH_v2", cu.cuMemcpyDtoH_v2(hostPointer(dst), src.ptr, bytes));
  }
}

/** Copies `bytes` bytes from the start of `src` to the start of `dst`. */
export function copyDeviceToDevice(dst: DeviceMemory, src: DeviceMemory, bytes: number, stream?: Stream): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InvalidArgumentError("bytes", "must be a non-negative integer", bytes);
  checkFits("bytes (vs dst)", bytes, dst.bytes);
  checkFits("bytes (vs src)", bytes, src.bytes);
  checkStream("stream", stream, undefined);
  if (bytes === 0) return;
  const cu = driver();
  if (stream) {
    checkCuda("cuMemcpyDtoDAsync_v2", cu.cuMemcpyDtoDAsync_v2(dst.ptr, src.ptr, bytes, stream.handle));
    if (stream.capturing) stream.noteCaptured("copyDeviceToDevice", [dst, src]);
  } else checkCuda("cuMemcpyDtoD_v2", cu.cuMemcpyDtoD_v2(dst.ptr, src.ptr, bytes));
}

function checkFits(argument: string, bytes: number, capacity: number): void {
  if (bytes > capacity) throw new InvalidArgumentError(argument, `copy of ${bytes} bytes exceeds the ${capacity}-byte device range`, bytes);
}

function checkByte(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new InvalidArgumentError("value", "must be a byte (0..255)", value);
}

/** Address of a host view's first byte (any typed array or DataView). */
function hostPointer(view: ArrayBufferView): Pointer {
  return ptr(view.buffer, view.byteOffset);
}
