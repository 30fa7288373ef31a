/**
 * The whole runtime against a fake libcuda (fixtures/fakeCuda.c) that records what crossed
 * bun:ffi: launch config and cluster attribute as the C side reads them, kernel parameters through
 * the pointer array, tensor map arguments, memory round trips, driver error names. Catches wrong
 * FFI argument types and struct offsets that only a GPU run would otherwise reveal.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { cCompiler, runAgainstFakeDriver } from "../support/fakeDriver.ts";

if (cCompiler === undefined) console.warn("skipping fake-driver tests: no C compiler");

describe.skipIf(cCompiler === undefined)("runtime against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    r = runAgainstFakeDriver("fakeDriverRun.ts");
  });

  test("device attributes and arch come through", () => {
    expect(r.has).toEqual({ ok: true });
    expect(r.device).toEqual({ name: "Fake H200", smCount: 132, arch: "sm_90a", optin: 232448, cc: [9, 0], driver: 13000 });
  });

  test("memset, H2D/D2D/D2H round trip (views with offsets), host refs held until stream sync", () => {
    expect(r.memsetD8).toEqual([7, 7, 7, 7]);
    expect(r.memsetD32).toEqual([1, 1]);
    expect(r.roundTrip).toEqual([-2, 3.25, 8]);
    expect([r.heldBeforeSync, r.heldAfterSync]).toEqual([true, false]);
    expect(r.tooLarge).toMatch(/^InvalidArgumentError: src: copy of 65 bytes exceeds/);
  });

  test("dispose/using free everything; use after dispose is caught in JS", () => {
    expect(r.liveAfterUsing).toBe(0);
    expect(r.liveAtEnd).toBe(0);
    expect(r.useAfterDispose).toBe("DisposedError: DeviceBuffer was used after dispose()");
    expect(r.useDisposedModule).toMatch(/^DisposedError: KernelFunction kern/);
  });

  test("driver failures become CudaError with the driver's names", () => {
    expect(r.outOfMemory).toBe("CudaError: cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): fake driver description");
    expect(r.missingFunction).toMatch(/^CudaError: cuModuleGetFunction\(nope\) failed: CUDA_ERROR_NOT_FOUND \(500\)/);
    expect(r.badImage).toMatch(/^CudaError: cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE \(200\)/);
    expect(r.fn).toEqual({ regs: 42, smem: 200000, same: true });
    expect(r.elapsed).toBe(1.5);
  });

  test("launch: config, cluster attribute and parameters as the C side reads them", () => {
    expect(r.unsetLaunch).toMatch(/every field must be set before launch/);
    expect(r.config).toEqual({ grid: [132, 2, 1], block: [384, 1, 1], shared: 200000, streamMatches: true, numAttrs: 1 });
    expect(r.attr).toEqual([4, 2, 1, 1]);
    expect(r.params).toEqual({ function: true, d: true, m: 4096, scale: 0.5, tmapWord0: String(0xa5a5000000000000n), tmapAligned: true });
    expect(r.relaunch).toEqual({ m: 7, numAttrs: 0, stream: "0" });
    expect(r.badCluster).toMatch(/grid dimension 0 \(3\) must be a multiple of the cluster/);
  });

  test("tensor map arguments reach cuTensorMapEncodeTiled in order", () => {
    const a = r.tmapArgs as string[];
    expect([a[0], a[1], a[3], a[4], a[8], a[13], a[14], a[18], a[19], a[23], a[24], a[25], a[26]]).toEqual(
      ["0", "2", "1024", "256", "1024", "128", "64", "1", "1", "0", "3", "3", "0"],
    );
  });
});
