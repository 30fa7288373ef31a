/**
 * Runtime on a real GPU: device attributes, memory, streams, events, tensor map encoding.
 * Skips (saying why) where there is no CUDA device.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { ptr } from "bun:ffi";
import { Device, driverVersion } from "../../src/runtime/device.ts";
import { DeviceBuffer, copyDeviceToDevice, copyDeviceToHost, copyHostToDevice, memsetD32, memsetD8 } from "../../src/runtime/memory.ts";
import { Stream } from "../../src/runtime/stream.ts";
import { Event } from "../../src/runtime/event.ts";
import { encodeTensorMap2d } from "../../src/runtime/tensorMap.ts";
import { KernelArgs } from "../../src/runtime/kernelArgs.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("GPU runtime tests");

describe.skipIf(!gpu.ok)("runtime on a CUDA device", () => {
  test("device attributes are sane (H200: 132 SMs, sm_90a, 227 KB opt-in shared memory)", () => {
    const device = Device.get(0);
    expect(Device.get(0)).toBe(device);
    expect(device.smCount).toBeGreaterThan(0);
    expect(device.maxSharedMemoryPerBlockOptin).toBeGreaterThanOrEqual(48 * 1024);
    expect(device.l2CacheBytes).toBeGreaterThan(0);
    expect(device.totalMemoryBytes).toBeGreaterThan(0);
    expect(driverVersion()).toBeGreaterThanOrEqual(12000);
    if (device.name.includes("H200") || device.name.includes("H100")) {
      expect(device.computeCapability).toEqual([9, 0]);
      expect(device.arch).toBe("sm_90a");
      expect(device.maxSharedMemoryPerBlockOptin).toBe(232448);
      expect(device.clusterLaunch).toBe(true);
    }
    if (device.name.includes("H200")) expect(device.smCount).toBe(132);
  });

  test("alloc, memset, copy round trip (sync)", () => {
    const device = Device.get(0);
    using a = DeviceBuffer.alloc(device, 4096);
    using b = DeviceBuffer.alloc(device, 4096);
    memsetD8(a, 0x5a);
    const bytes = new Uint8Array(4096);
    copyDeviceToHost(bytes, a);
    expect(bytes.every((x) => x === 0x5a)).toBe(true);
    memsetD32(a, 0x3f800000);
    const ones = new Float32Array(1024);
    copyDeviceToHost(ones, a);
    expect(ones.every((x) => x === 1)).toBe(true);
    const src = Float32Array.from({ length: 1024 }, (_, i) => i * 0.25 - 7);
    copyHostToDevice(a, src);
    copyDeviceToDevice(b, a, 4096);
    const back = new Float32Array(1024);
    copyDeviceToHost(back, b);
    expect(back).toEqual(src);
    expect(a.ptr % 256n).toBe(0n);
  });

  test("async copies on a stream, host buffers held until synchronize", () => {
    const device = Device.get(0);
    using stream = Stream.create(device);
    using buf = DeviceBuffer.alloc(device, 1 << 20);
    const src = Uint32Array.from({ length: (1 << 20) / 4 }, (_, i) => (i * 2654435761) >>> 0);
    const back = new Uint32Array(src.length);
    copyHostToDevice(buf, src, stream);
    memsetD32({ ptr: buf.ptr + 4096n, bytes: 4096, disposed: false }, 0xffffffff, stream);
    copyDeviceToHost(back, buf, stream);
    expect(device.hostRefHolders.has(stream)).toBe(true);
    stream.synchronize();
    expect(device.hostRefHolders.has(stream)).toBe(false);
    const expected = src.slice();
    expected.fill(0xffffffff, 1024, 2048);
    expect(back).toEqual(expected);
  });

  test("events measure a non-negative elapsed time", () => {
    const device = Device.get(0);
    using stream = Stream.create(device);
    using start = Event.create(device);
    using end = Event.create(device);
    using buf = DeviceBuffer.alloc(device, 64 << 20);
    start.record(stream);
    memsetD8(buf, 1, stream);
    end.record(stream);
    end.synchronize();
    const ms = Event.elapsedMs(start, end);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1000);
  });

  test("tensor map: 2D e4m3 128B-swizzled operand map encodes, also in place into kernel args", () => {
    const device = Device.get(0);
    using a = DeviceBuffer.alloc(device, 4096 * 7168);
    const spec = {
      dtype: "e4m3",
      globalAddress: a.ptr,
      globalDims: [7168, 4096],
      globalStridesBytes: [7168],
      boxDims: [128, 128],
      swizzle: "128B",
    } as const;
    const map = encodeTensorMap2d(spec);
    expect(map.byteLength).toBe(128);
    expect(ptr(map) % 64).toBe(0);
    expect(map.some((x) => x !== 0)).toBe(true);
    const args = new KernelArgs([{ name: "tmapA", kind: "tensorMap" }]);
    const slot = args.tensorMapSlot("tmapA");
    encodeTensorMap2d(spec, slot);
    args.set("tmapA", slot);
    expect([...slot]).toEqual([...map]);
  });
});
