/**
 * Kernel parameter buffers for cuLaunchKernelEx, built once per kernel signature and rewritten
 * field by field per call (so a warm launch allocates nothing).
 *
 * Layout: one blob holding every value, each naturally aligned (tensor maps on 64 bytes, as
 * cuTensorMapEncodeTiled requires of its output, so a map can be encoded in place), plus the
 * `void*[]` array of absolute addresses into the blob that the driver reads. Both live in their
 * own ArrayBuffers, which the GC never moves, so the addresses stay valid while this object lives.
 */
import { InvalidArgumentError } from "../errors.ts";
import { alignedBytes, TENSOR_MAP_ALIGN, TENSOR_MAP_BYTES } from "../ffi/structs.ts";
import { ptr } from "bun:ffi";

export type KernelArgKind = "u64" | "u32" | "i32" | "f32" | "tensorMap";

/** One kernel parameter, in the kernel's declaration order. Pointers are "u64". */
export interface KernelArgField {
  readonly name: string;
  readonly kind: KernelArgKind;
}

/** A u64 takes number | bigint, u32/i32/f32 a number, a tensorMap the 128 bytes from encodeTensorMapTiled. */
export type KernelArgValue = number | bigint | Uint8Array;

const SIZE: Record<KernelArgKind, { bytes: number; align: number }> = {
  u64: { bytes: 8, align: 8 },
  u32: { bytes: 4, align: 4 },
  i32: { bytes: 4, align: 4 },
  f32: { bytes: 4, align: 4 },
  tensorMap: { bytes: TENSOR_MAP_BYTES, align: TENSOR_MAP_ALIGN },
};

const U64_MAX = (1n << 64n) - 1n;

export class KernelArgs {
  readonly fields: readonly KernelArgField[];
  /** All parameter values; 64-byte aligned. */
  readonly blob: Uint8Array;
  /** The `void**` handed to the driver: entry i is the address of field i in `blob`. */
  readonly pointers: BigUint64Array;
  private readonly offsets: Int32Array;
  private readonly index = new Map<string, number>();
  private readonly view: DataView;
  private readonly isSet: Uint8Array;
  private unsetCount: number;

  /** @throws InvalidArgumentError for a duplicate name or an unknown kind. */
  constructor(fields: readonly KernelArgField[]) {
    this.fields = fields.map((f) => ({ name: f.name, kind: f.kind }));
    this.offsets = new Int32Array(fields.length);
    let end = 0;
    fields.forEach((field, i) => {
      const size = SIZE[field.kind];
      if (size === undefined) throw new InvalidArgumentError(`fields[${i}].kind`, "must be u64, u32, i32, f32 or tensorMap", field.kind);
      if (this.index.has(field.name)) throw new InvalidArgumentError(`fields[${i}].name`, "must be unique", field.name);
      this.index.set(field.name, i);
      end = alignUp(end, size.align);
      this.offsets[i] = end;
      end += size.bytes;
    });
    this.blob = alignedBytes(Math.max(end, 8), TENSOR_MAP_ALIGN);
    this.view = new DataView(this.blob.buffer, this.blob.byteOffset, this.blob.byteLength);
    // At least one entry: the driver never reads it for a kernel without parameters, but ptr() needs bytes.
    this.pointers = new BigUint64Array(new ArrayBuffer(8 * Math.max(fields.length, 1)));
    const base = BigInt(ptr(this.blob));
    for (let i = 0; i < fields.length; i++) this.pointers[i] = base + BigInt(this.offsets[i] ?? 0);
    this.isSet = new Uint8Array(fields.length);
    this.unsetCount = fields.length;
  }

  /** Byte offset of `name` in `blob`. */
  offsetOf(name: string): number {
    return this.offsets[this.indexOf(name)] ?? 0;
  }

  /**
   * Writes one parameter; nothing else in the blob changes.
   * @throws InvalidArgumentError for an unknown name (listing the known ones) or a value the field's kind cannot hold.
   */
  set(name: string, value: KernelArgValue): this {
    const i = this.indexOf(name);
    const field = this.fields[i] as KernelArgField;
    const offset = this.offsets[i] ?? 0;
    switch (field.kind) {
      case "u64": {
        const v = typeof value === "bigint" ? value : typeof value === "number" ? numberToU64(name, value) : badKind(field, value);
        if (v < 0n || v > U64_MAX) badKind(field, value);
        this.view.setBigUint64(offset, v, true);
        break;
      }
      case "u32":
        if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffffffff) badKind(field, value);
        this.view.setUint32(offset, value, true);
        break;
      case "i32":
        if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) badKind(field, value);
        this.view.setInt32(offset, value, true);
        break;
      case "f32":
        if (typeof value !== "number") badKind(field, value);
        this.view.setFloat32(offset, value, true);
        break;
      case "tensorMap":
        if (!(value instanceof Uint8Array) || value.byteLength !== TENSOR_MAP_BYTES) badKind(field, value);
        // Encoded in place (value is tensorMapSlot(name)): already there.
        if (value.buffer !== this.blob.buffer || value.byteOffset !== this.blob.byteOffset + offset) this.blob.set(value, offset);
        break;
    }
    if (this.isSet[i] === 0) {
      this.isSet[i] = 1;
      this.unsetCount--;
    }
    return this;
  }

  /**
   * The 128 bytes where tensor map `name` lives, 64-byte aligned, for encodeTensorMapTiled to
   * write into directly (then `set(name, slot)` marks it set without copying).
   */
  tensorMapSlot(name: string): Uint8Array {
    const i = this.indexOf(name);
    if (this.fields[i]?.kind !== "tensorMap") throw new InvalidArgumentError(name, "is not a tensorMap field", this.fields[i]?.kind);
    const offset = this.offsets[i] ?? 0;
    return this.blob.subarray(offset, offset + TENSOR_MAP_BYTES);
  }

  /** Whether every field has been set at least once. */
  get ready(): boolean {
    return this.unsetCount === 0;
  }

  /** @throws InvalidArgumentError naming the fields never set (a kernel would read zeros: a null pointer or an empty tensor map). */
  assertReady(): void {
    if (this.unsetCount === 0) return;
    const missing = this.fields.filter((_, i) => this.isSet[i] === 0).map((f) => f.name);
    throw new InvalidArgumentError("kernel arguments", "every field must be set before launch", missing);
  }

  private indexOf(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) {
      throw new InvalidArgumentError("name", `must be one of ${this.fields.map((f) => f.name).join(", ")}`, name);
    }
    return i;
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function numberToU64(name: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, "u64 must be a non-negative safe integer or a bigint", value);
  return BigInt(value);
}

function badKind(field: KernelArgField, value: unknown): never {
  const expected: Record<KernelArgKind, string> = {
    u64: "a u64 (bigint or non-negative safe integer)",
    u32: "an integer in [0, 2^32)",
    i32: "an integer in [-2^31, 2^31)",
    f32: "a number",
    tensorMap: `a ${TENSOR_MAP_BYTES}-byte Uint8Array from encodeTensorMapTiled`,
  };
  const shown = value instanceof Uint8Array ? `Uint8Array(${value.byteLength})` : value;
  throw new InvalidArgumentError(field.name, `must be ${expected[field.kind]}`, shown);
}
