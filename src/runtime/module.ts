/**
 * Loaded CUDA modules (cubins) and the kernel functions in them.
 */
import { checkCuda, driver } from "../ffi/cuda.ts";
import { FuncAttribute } from "../ffi/cudaConstants.ts";
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import type { Device } from "./device.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";

const MODULE_UNLOAD: Destroyer = { call: "cuModuleUnload", destroy: (h) => driver().cuModuleUnload(h) };

/** A cubin loaded into a device's context. Unloading it invalidates its functions. */
export class Module extends DriverHandle {
  private readonly functions = new Map<string, KernelFunction>();

  private constructor(device: Device, handle: bigint) {
    super(device, handle, "Module", MODULE_UNLOAD);
  }

  /**
   * Loads a cubin (or NUL-terminated PTX) image. The driver copies it, so `cubin` may be dropped after.
   * @throws CudaError (e.g. CUDA_ERROR_NO_BINARY_FOR_GPU when it was built for another architecture).
   */
  static load(device: Device, cubin: Uint8Array): Module {
    if (cubin.byteLength === 0) throw new InvalidArgumentError("cubin", "must not be empty", 0);
    device.activate();
    const out = new BigUint64Array(1);
    checkCuda("cuModuleLoadData", driver().cuModuleLoadData(out, cubin));
    return new Module(device, out[0] ?? 0n);
  }

  /** The CUmodule. @throws DisposedError after dispose(). */
  get handle(): bigint {
    return this.liveHandle;
  }

  /**
   * The `extern "C"` kernel named `name` (looked up once, then cached).
   * @throws CudaError CUDA_ERROR_NOT_FOUND when the module has no such kernel (a C++-mangled name is the usual cause).
   */
  getFunction(name: string): KernelFunction {
    const known = this.functions.get(name);
    if (known) return known;
    const out = new BigUint64Array(1);
    checkCuda(`cuModuleGetFunction(${name})`, driver().cuModuleGetFunction(out, this.handle, Buffer.from(`${name}\0`)));
    const fn = new KernelFunction(this, name, out[0] ?? 0n);
    this.functions.set(name, fn);
    return fn;
  }

  /** Unloads the module. Idempotent. Kernels still queued from it must have finished. */
  override dispose(): void {
    this.functions.clear();
    super.dispose();
  }
}

/** One kernel of a loaded module. Valid while its module is. */
export class KernelFunction {
  constructor(
    readonly module: Module,
    readonly name: string,
    private readonly handleValue: bigint,
  ) {}

  /** The CUfunction. @throws DisposedError once the module is unloaded. */
  get handle(): bigint {
    if (this.module.disposed) throw new DisposedError(`KernelFunction ${this.name} (its module)`);
    return this.handleValue;
  }

  /** Reads a CUfunction_attribute (see FuncAttribute). */
  attribute(attribute: number): number {
    const out = new Int32Array(1);
    checkCuda("cuFuncGetAttribute", driver().cuFuncGetAttribute(out, attribute, this.handle));
    return out[0] ?? 0;
  }

  /** Dynamic shared memory a launch may request (48 KB until raised with setMaxDynamicSharedBytes). */
  get maxDynamicSharedBytes(): number {
    return this.attribute(FuncAttribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
  }

  /**
   * Opts the kernel into more than 48 KB of dynamic shared memory; required before such a launch.
   * @throws CudaError when `bytes` plus the kernel's static shared memory exceeds the device's opt-in limit.
   */
  setMaxDynamicSharedBytes(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0) throw new InvalidArgumentError("bytes", "must be a non-negative integer", bytes);
    const attr = FuncAttribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    checkCuda("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)", driver().cuFuncSetAttribute(this.handle, attr, bytes));
  }

  /** Registers per thread. */
  get numRegisters(): number {
    return this.attribute(FuncAttribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
  }

  /** Local memory per thread in bytes; non-zero means register spills or stack arrays. */
  get localBytes(): number {
    return this.attribute(FuncAttribute.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
  }

  /** Static shared memory in bytes. */
  get staticSharedBytes(): number {
    return this.attribute(FuncAttribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
  }
}
