/**
 * A CUDA device and its primary context, with the attributes the heuristics and the JIT read.
 */
import { checkCuda, driver } from "../ffi/cuda.ts";
import { DeviceAttribute } from "../ffi/cudaConstants.ts";
import { InvalidArgumentError } from "../errors.ts";

/** Something holding host memory for queued async work; released once the device is synchronised. */
export interface HostRefHolder {
  releaseHostRefs(): void;
}

const devices = new Map<number, Device>();
let driverInitialised = false;
// The context this thread last made current through bungemm. Everything runs on the JS thread,
// so tracking it here lets activate() skip cuCtxSetCurrent when nothing changed (the usual case).
let currentContext: bigint | undefined;

/** One GPU. Obtain with `Device.get(ordinal)`; instances are shared and live as long as the process. */
export class Device {
  /** Number of streaming multiprocessors (132 on H100 SXM / H200). */
  readonly smCount: number;
  /** Largest dynamic shared memory one block can opt into (227 KB on Hopper). */
  readonly maxSharedMemoryPerBlockOptin: number;
  readonly l2CacheBytes: number;
  readonly computeCapability: readonly [major: number, minor: number];
  /** NVRTC/NVCC target for this device: "sm_90a" on Hopper (arch-specific features such as wgmma need the "a"). */
  readonly arch: string;
  readonly name: string;
  readonly totalMemoryBytes: number;
  /** Whether thread-block clusters can be launched (compute capability ≥ 9.0). */
  readonly clusterLaunch: boolean;
  /** Streams with host memory pinned by queued async copies; `synchronize()` releases them. */
  readonly hostRefHolders = new Set<HostRefHolder>();

  private constructor(
    readonly ordinal: number,
    /** The CUdevice (an int in the driver API, not a pointer). */
    readonly handle: number,
    /** The retained primary context (CUcontext). */
    readonly context: bigint,
  ) {
    this.activate();
    const attr = (a: number) => this.attribute(a);
    this.smCount = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    this.maxSharedMemoryPerBlockOptin = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
    this.l2CacheBytes = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
    const major = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    const minor = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    this.computeCapability = [major, minor];
    this.arch = archOf(major, minor);
    this.clusterLaunch = attr(DeviceAttribute.CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH) !== 0;
    this.name = readName(handle);
    const total = new BigUint64Array(1);
    checkCuda("cuDeviceTotalMem_v2", driver().cuDeviceTotalMem_v2(total, handle));
    this.totalMemoryBytes = Number(total[0]);
  }

  /**
   * The device with this ordinal. The first call initialises the driver, retains the device's
   * primary context (shared with every other CUDA user in the process) and makes it current.
   * @throws LibraryNotFoundError when libcuda cannot be loaded, CudaError when the driver refuses,
   *   InvalidArgumentError for an ordinal out of range.
   */
  static get(ordinal = 0): Device {
    const known = devices.get(ordinal);
    if (known) {
      known.activate();
      return known;
    }
    initDriver();
    const count = deviceCount();
    if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= count) {
      throw new InvalidArgumentError("ordinal", `must be an integer in [0, ${count})`, ordinal);
    }
    const cu = driver();
    const handleOut = new Int32Array(1);
    checkCuda("cuDeviceGet", cu.cuDeviceGet(handleOut, ordinal));
    const handle = handleOut[0] ?? 0;
    const ctxOut = new BigUint64Array(1);
    checkCuda("cuDevicePrimaryCtxRetain", cu.cuDevicePrimaryCtxRetain(ctxOut, handle));
    const device = new Device(ordinal, handle, ctxOut[0] ?? 0n);
    devices.set(ordinal, device);
    return device;
  }

  /** Makes this device's context current for the calling thread; cheap when it already is. */
  activate(): void {
    if (currentContext === this.context) return;
    checkCuda("cuCtxSetCurrent", driver().cuCtxSetCurrent(this.context));
    currentContext = this.context;
  }

  /** Reads one CUdevice_attribute (see DeviceAttribute in ffi/cudaConstants.ts). */
  attribute(attribute: number): number {
    const out = new Int32Array(1);
    checkCuda("cuDeviceGetAttribute", driver().cuDeviceGetAttribute(out, attribute, this.handle));
    return out[0] ?? 0;
  }

  /** Waits for all work on this device, then releases host buffers held for finished async copies. */
  synchronize(): void {
    this.activate();
    checkCuda("cuCtxSynchronize", driver().cuCtxSynchronize());
    for (const holder of this.hostRefHolders) holder.releaseHostRefs();
  }

  /** Free and total device memory in bytes. */
  memoryInfo(): { freeBytes: number; totalBytes: number } {
    this.activate();
    const free = new BigUint64Array(1);
    const total = new BigUint64Array(1);
    checkCuda("cuMemGetInfo_v2", driver().cuMemGetInfo_v2(free, total));
    return { freeBytes: Number(free[0]), totalBytes: Number(total[0]) };
  }
}

/**
 * Whether a CUDA device can be used, with the reason when not; for skipping GPU tests.
 * Never throws.
 */
export function hasCudaDevice(): { ok: true } | { ok: false; reason: string } {
  try {
    initDriver();
    const count = deviceCount();
    return count > 0 ? { ok: true } : { ok: false, reason: "the CUDA driver reports no devices" };
  } catch (error) {
    // Turned into data, not swallowed: the reason is what the caller prints when skipping.
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The driver's version as an integer (13000 = 13.0). */
export function driverVersion(): number {
  const out = new Int32Array(1);
  checkCuda("cuDriverGetVersion", driver().cuDriverGetVersion(out));
  return out[0] ?? 0;
}

/** "sm_90a" for Hopper and later (arch-specific PTX), "sm_86" before. */
export function archOf(major: number, minor: number): string {
  return major >= 9 ? `sm_${major}${minor}a` : `sm_${major}${minor}`;
}

function initDriver(): void {
  if (driverInitialised) return;
  checkCuda("cuInit", driver().cuInit(0));
  driverInitialised = true;
}

function deviceCount(): number {
  const out = new Int32Array(1);
  checkCuda("cuDeviceGetCount", driver().cuDeviceGetCount(out));
  return out[0] ?? 0;
}

function readName(handle: number): string {
  const bytes = new Uint8Array(256);
  checkCuda("cuDeviceGetName", driver().cuDeviceGetName(bytes, bytes.length, handle));
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end));
}
