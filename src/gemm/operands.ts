/**
 * Shape, dtype, stride, alignment and device rules for GEMM operands, checked before anything is
 * launched. Plain integer comparisons (no schema parsing): plans run them on every call, because a
 * tensor of the wrong shape reaching the kernel could read or write out of bounds.
 */
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import type { DType } from "../tensor/dtype.ts";
import { Tensor } from "../tensor/tensor.ts";

export interface OperandRule {
  dtype: DType;
  shape: readonly number[];
  /** "contiguous": row-major with no gaps. "rows16": last dim contiguous, row stride a multiple of 16 bytes. */
  layout: "contiguous" | "rows16";
  /** Required alignment of the first element's address, in bytes. */
  align: number;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * @throws DisposedError for a disposed tensor; InvalidArgumentError naming the rule and the value
 *   for a wrong dtype, shape, layout, alignment or device.
 */
export function checkOperand(name: string, t: Tensor | undefined, rule: OperandRule, device: Device): void {
  if (t === undefined || t === null) throw new InvalidArgumentError(name, "is required", t);
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(name, "must be a Tensor", typeof t);
  if (t.disposed) throw new DisposedError(`${name} (Tensor)`);
  if (t.dtype !== rule.dtype) throw new InvalidArgumentError(`${name}.dtype`, `must be ${rule.dtype}`, t.dtype);
  if (!sameShape(t.shape, rule.shape)) {
    throw new InvalidArgumentError(`${name}.shape`, `must be [${rule.shape.join(", ")}]`, [...t.shape]);
  }
  if (t.device !== device) {
    throw new InvalidArgumentError(`${name}.device`, `must be device ${device.ordinal}`, t.device.ordinal);
  }
  if (rule.layout === "contiguous") {
    if (!t.isContiguous()) throw new InvalidArgumentError(`${name}.strides`, "must be row-major contiguous", [...t.strides]);
  } else {
    const rank = t.shape.length;
    const elementBytes = rule.dtype === "e4m3" ? 1 : rule.dtype === "bf16" ? 2 : 4;
    const inner = t.strides[rank - 1];
    const row = t.strides[rank - 2] ?? 0;
    if (inner !== 1) throw new InvalidArgumentError(`${name}.strides`, "the last dimension must be contiguous (stride 1)", [...t.strides]);
    if ((row * elementBytes) % 16 !== 0 || row < (t.shape[rank - 1] ?? 0)) {
      throw new InvalidArgumentError(`${name}.strides`, "the row stride must cover a row and be a multiple of 16 bytes", row);
    }
  }
  if (Number(t.ptr % BigInt(rule.align)) !== 0) {
    throw new InvalidArgumentError(`${name}.ptr`, `must be ${rule.align}-byte aligned`, `0x${t.ptr.toString(16)}`);
  }
}

/** @throws InvalidArgumentError unless `value` is an integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(name, `must be an integer in [${min}, ${max}]`, value);
  }
  return value;
}
