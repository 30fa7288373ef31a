/**
 * The memory ceiling of this run: a large device-to-device copy timed like the kernels, so that
 * GB/s figures of memory-bound rows (small M) compare with what this very card moved today
 * (DESIGN §6 measured 4.06 TB/s on one H200; cards of the pool differ by up to 15%).
 */
import type { Device } from "../src/runtime/device.ts";
import { DeviceBuffer, copyDeviceToDevice } from "../src/runtime/memory.ts";
import type { KernelTimer } from "./timing.ts";

/** 2 GiB each way: ~1 ms per copy at 4 TB/s, far past launch overhead and L2. */
export const COPY_BYTES = 2 * 1024 * 1024 * 1024;

/** Device-to-device copy bandwidth in TB/s, counting bytes read plus bytes written. */
export function measureCopyTBs(device: Device, timer: KernelTimer, bytes: number = COPY_BYTES): number {
  using src = DeviceBuffer.alloc(device, bytes);
  using dst = DeviceBuffer.alloc(device, bytes);
  const timing = timer.time(() => copyDeviceToDevice(dst, src, bytes, timer.stream), { warmup: 2, runs: 10 });
  return (2 * bytes) / timing.medianUs / 1e6;
}
