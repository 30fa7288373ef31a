/**
 * Whether a GPU test file runs here. Without a usable Hopper device (libcuda loads, a device
 * exists, compute capability 9.0 or above for wgmma and TMA) its suites skip, printing why. With
 * BUNGEMM_REQUIRE_GPU=1, which scripts/device.sh sets on the GPU machine, the same condition
 * registers a failing test instead: a driver that fails to load there must not pass as "skipped".
 */
import { test } from "bun:test";
import { Device, hasCudaDevice } from "../../src/runtime/device.ts";

export type GpuGate = { ok: true } | { ok: false; reason: string };

/** The reason a Hopper GPU cannot be used here, or ok. */
export function hopperGpuStatus(): GpuGate {
  const driver = hasCudaDevice();
  if (!driver.ok) return driver;
  let major: number, minor: number;
  try {
    [major, minor] = Device.get(0).computeCapability;
  } catch (error) {
    // A driver that loads but cannot open device 0 (no context, busy device): a reason, not a crash.
    return { ok: false, reason: `device 0 cannot be opened: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (major < 9) return { ok: false, reason: `device 0 has compute capability ${major}.${minor}; the kernels need 9.0 (Hopper)` };
  return { ok: true };
}

/** `what`: the file's tests, for the message ("dense GEMM GPU tests"). Call at module level. */
export function gpuGate(what: string): GpuGate {
  const status = hopperGpuStatus();
  if (status.ok) return status;
  if (process.env.BUNGEMM_REQUIRE_GPU === "1") {
    test(`${what}: a Hopper GPU is required here (BUNGEMM_REQUIRE_GPU=1)`, () => {
      throw new Error(`cannot run the ${what}: ${status.reason}`);
    });
  } else {
    console.warn(`skipping ${what}: ${status.reason}`);
  }
  return status;
}
