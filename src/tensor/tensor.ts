/**
 * Typed views of device memory: a dtype, a shape, strides in elements and a byte offset into a
 * DeviceBuffer. A tensor made by `empty`/`fromHost` owns its buffer; `view` makes tensors that
 * share it (disposing a view frees nothing; disposing the owner invalidates its views, whose `ptr`
 * then throws DisposedError).
 */
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import { DeviceBuffer, copyDeviceToHost, copyHostToDevice, type DeviceMemory } from "../runtime/memory.ts";
import { checkStream, type Stream } from "../runtime/stream.ts";
import { allocHostArray, dtypeBytes, type DType, type HostArrayOf } from "./dtype.ts";

const HOST_ARRAY_NAMES: Record<DType, string> = {
  e4m3: "Uint8Array",
  bf16: "Uint16Array",
  f32: "Float32Array",
  i32: "Int32Array",
};

function hostArrayMatches(dtype: DType, data: ArrayBufferView): boolean {
  switch (dtype) {
    case "e4m3":
      return data instanceof Uint8Array;
    case "bf16":
      return data instanceof Uint16Array;
    case "f32":
      return data instanceof Float32Array;
    case "i32":
      return data instanceof Int32Array;
  }
}

function checkShape(argument: string, shape: readonly number[]): void {
  for (const extent of shape) {
    if (!Number.isSafeInteger(extent) || extent < 0) {
      throw new InvalidArgumentError(argument, "every extent must be a non-negative integer", shape);
    }
  }
}

function checkStrides(shape: readonly number[], strides: readonly number[]): void {
  if (strides.length !== shape.length || strides.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new InvalidArgumentError("strides", `must be ${shape.length} non-negative integers`, strides);
  }
}

/** Row-major strides (in elements) of `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elements from the first to one past the last addressed element (0 for an empty tensor). */
function extentElements(shape: readonly number[], strides: readonly number[]): number {
  if (shape.some((extent) => extent === 0)) return 0;
  return 1 + shape.reduce((last, extent, i) => last + (extent - 1) * strides[i]!, 0);
}

/** A device tensor. Dispose the owner (or use `using`) to free its memory. */
export class Tensor implements DeviceMemory {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Bytes from `ptr` to one past the last element this tensor addresses. */
  readonly bytes: number;
  private released = false;
  /** The first byte's and one past the last byte's device address, as Numbers (see overlaps). */
  private span: [start: number, end: number] | undefined;

  private constructor(
    readonly dtype: DType,
    shape: readonly number[],
    strides: readonly number[],
    /** The device memory this tensor lives in (shared with its views). */
    readonly buffer: DeviceBuffer,
    /** Byte offset of element [0, …, 0] from the start of `buffer`. */
    readonly byteOffset: number,
    private readonly ownsBuffer: boolean,
  ) {
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.bytes = extentElements(this.shape, this.strides) * dtypeBytes(dtype);
  }

  /**
   * An uninitialised, contiguous tensor on `device`.
   * @throws InvalidArgumentError for a negative or fractional extent.
   */
  static empty(device: Device, shape: readonly number[], dtype: DType): Tensor {
    checkShape("shape", shape);
    // cuMemAlloc refuses 0 bytes; an empty tensor still gets a (1-byte) buffer so ptr stays valid.
    const bytes = Math.max(1, product(shape) * dtypeBytes(dtype));
    return new Tensor(dtype, shape, contiguousStrides(shape), DeviceBuffer.alloc(device, bytes), 0, true);
  }

  /**
   * An uninitialised tensor with explicit `strides` that owns its buffer, for layouts with gaps
   * (e.g. the TMA-aligned A scales: logical [M, kBlocks], strides [1, alignedM(M)]).
   * `allocElements` sizes the buffer when kernels also write the gaps past the last element
   * (default: just enough for the elements addressed).
   * @throws InvalidArgumentError for a bad extent or stride, or an allocation smaller than the extent.
   */
  static emptyStrided(
    device: Device,
    shape: readonly number[],
    strides: readonly number[],
    dtype: DType,
    allocElements: number = extentElements(shape, strides),
  ): Tensor {
    checkShape("shape", shape);
    checkStrides(shape, strides);
    const extent = extentElements(shape, strides);
    if (!Number.isSafeInteger(allocElements) || allocElements < extent) {
      throw new InvalidArgumentError("allocElements", `must be an integer of at least the ${extent} elements addressed`, allocElements);
    }
    const bytes = Math.max(1, allocElements * dtypeBytes(dtype));
    return new Tensor(dtype, shape, strides, DeviceBuffer.alloc(device, bytes), 0, true);
  }

  /**
   * A contiguous tensor holding a copy of `data` (row-major). `data` must be the host array of the
   * dtype (Uint8Array of e4m3 codes, Uint16Array of bf16 bits, Float32Array, Int32Array) with
   * exactly numel elements. With `stream` the copy is queued (and `data` kept alive until it syncs).
   * @throws InvalidArgumentError when the array type or length does not match.
   */
  static fromHost(device: Device, data: ArrayBufferView, shape: readonly number[], dtype: DType, stream?: Stream): Tensor {
    checkShape("shape", shape);
    if (!hostArrayMatches(dtype, data)) {
      throw new InvalidArgumentError("data", `a ${dtype} tensor is filled from a ${HOST_ARRAY_NAMES[dtype]}`, data.constructor.name);
    }
    const numel = product(shape);
    const length = data.byteLength / dtypeBytes(dtype);
    if (length !== numel) {
      throw new InvalidArgumentError("data", `length must equal the number of elements of [${shape.join(", ")}] = ${numel}`, length);
    }
    const tensor = Tensor.empty(device, shape, dtype);
    try {
      copyHostToDevice(tensor, data, stream);
    } catch (error) {
      tensor.dispose();
      throw error;
    }
    return tensor;
  }

  get device(): Device {
    return this.buffer.device;
  }

  /** Device address of element [0, …, 0]. @throws DisposedError once this tensor or its owner is disposed. */
  get ptr(): bigint {
    if (this.released) throw new DisposedError("Tensor");
    return this.buffer.ptr + BigInt(this.byteOffset);
  }

  get numel(): number {
    return product(this.shape);
  }

  /**
   * True when the bytes this tensor spans (first element to last, the gaps of a strided view
   * included) share one with `other`'s. An empty tensor overlaps nothing.
   */
  overlaps(other: Tensor): boolean {
    if (this.bytes === 0 || other.bytes === 0) return false;
    const [start, end] = this.addressSpan();
    const [otherStart, otherEnd] = other.addressSpan();
    return start < otherEnd && otherStart < end;
  }

  // Kept once computed (a tensor's address never changes), so that plans can check every call's
  // outputs against its inputs without BigInt arithmetic; device addresses are below 2^53.
  private addressSpan(): [start: number, end: number] {
    if (this.span === undefined) {
      const start = Number(this.ptr);
      this.span = [start, start + this.bytes];
    }
    return this.span;
  }

  /** True when this tensor disposed itself or its buffer was freed. */
  get disposed(): boolean {
    return this.released || this.buffer.disposed;
  }

  /** Row-major with no gaps (extents of 1 may carry any stride). */
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const extent = this.shape[i]!;
      if (extent !== 1 && this.strides[i] !== expected) return false;
      expected *= extent;
    }
    return true;
  }

  /**
   * A tensor sharing this one's memory: `shape`, `strides` in elements (default row-major) and
   * `byteOffset` relative to this tensor's first element. The view must stay inside the buffer and
   * be aligned to its element size; it does not own the memory.
   * @throws InvalidArgumentError when it does not fit or is misaligned; DisposedError when disposed.
   */
  view(shape: readonly number[], strides: readonly number[] = contiguousStrides(shape), byteOffset = 0): Tensor {
    if (this.disposed) throw new DisposedError("Tensor");
    checkShape("shape", shape);
    checkStrides(shape, strides);
    const elementBytes = dtypeBytes(this.dtype);
    // Checked before any arithmetic: a bigint offset would otherwise throw a bare TypeError.
    const offset = Number.isSafeInteger(byteOffset) ? this.byteOffset + byteOffset : Number.NaN;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % elementBytes !== 0) {
      throw new InvalidArgumentError("byteOffset", `must keep the view inside the buffer and a multiple of ${elementBytes}`, byteOffset);
    }
    const end = offset + extentElements(shape, strides) * elementBytes;
    if (end > this.buffer.bytes) {
      throw new InvalidArgumentError("view", `must end within the ${this.buffer.bytes}-byte buffer`, end);
    }
    return new Tensor(this.dtype, shape, strides, this.buffer, offset, false);
  }

  /**
   * Copies the tensor to a new host array (row-major, gathered when the tensor is strided).
   * Synchronous; with `stream`, it first waits for the work queued on that stream.
   */
  toHost(stream?: Stream): HostArrayOf[DType] {
    if (this.disposed) throw new DisposedError("Tensor");
    checkStream("stream", stream, this.device);
    stream?.synchronize();
    const out = allocHostArray(this.dtype, this.numel);
    if (this.numel === 0) return out;
    if (this.isContiguous()) {
      copyDeviceToHost(out, this);
      return out;
    }
    const raw = allocHostArray(this.dtype, extentElements(this.shape, this.strides));
    copyDeviceToHost(raw, this);
    gather(raw, out, this.shape, this.strides);
    return out;
  }

  /** Frees the buffer when this tensor owns it; a view only stops being usable. Idempotent. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    if (this.ownsBuffer) this.buffer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Copies the strided elements of `src` (starting at 0) into row-major `dst`. */
function gather(src: HostArrayOf[DType], dst: HostArrayOf[DType], shape: readonly number[], strides: readonly number[]): void {
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < dst.length; i++) {
    let offset = 0;
    for (let d = 0; d < shape.length; d++) offset += index[d]! * strides[d]!;
    dst[i] = src[offset]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
}

/**
 * @throws InvalidArgumentError when the output `output` shares memory with the input `input`: a
 *   kernel would read what other threads of the same launch already overwrote.
 */
export function checkDisjoint(outputName: string, output: Tensor, inputName: string, input: Tensor | undefined): void {
  if (!(output instanceof Tensor)) throw new InvalidArgumentError(outputName, "must be a Tensor", typeof output);
  if (input === undefined) return;
  if (!(input instanceof Tensor)) throw new InvalidArgumentError(inputName, "must be a Tensor", typeof input);
  if (!output.overlaps(input)) return;
  throw new InvalidArgumentError(
    outputName,
    `must not share memory with ${inputName}`,
    `[0x${output.ptr.toString(16)}, +${output.bytes}) overlaps [0x${input.ptr.toString(16)}, +${input.bytes})`,
  );
}
