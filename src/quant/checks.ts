/**
 * Shape, dtype, layout and address rules of the quantization API. Every rule throws an
 * InvalidArgumentError that names the argument, the rule and the value, before anything launches.
 */
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import type { DType } from "../tensor/dtype.ts";
import { dtypeBytes } from "../tensor/dtype.ts";
import { Tensor } from "../tensor/tensor.ts";
import { alignedM } from "./layout.ts";

/** A [rows, cols] matrix or a batch [numGroups, rows, cols] of them. */
export interface MatrixShape {
  numGroups: number;
  rows: number;
  cols: number;
  /** Whether the shape had the leading group dimension. */
  batched: boolean;
}

/** Device addresses of vector accesses must be 16-byte aligned (LDG.128 / STG.128). */
export const VECTOR_BYTES = 16;
/** The kernels index with 32-bit integers. */
const INDEX_LIMIT = 2 ** 32;

/** Reads a rank-2 or rank-3 shape of positive integers. */
export function parseMatrixShape(argument: string, shape: readonly number[]): MatrixShape {
  if (shape.length !== 2 && shape.length !== 3) {
    throw new InvalidArgumentError(argument, "must have rank 2 ([rows, cols]) or 3 ([groups, rows, cols])", shape);
  }
  if (shape.some((extent) => !Number.isSafeInteger(extent) || extent < 1)) {
    throw new InvalidArgumentError(argument, "every extent must be a positive integer", shape);
  }
  const [numGroups, rows, cols] = shape.length === 3 ? (shape as [number, number, number]) : [1, shape[0]!, shape[1]!];
  return { numGroups, rows, cols, batched: shape.length === 3 };
}

/** The rule every cast/dequantize shape obeys: K a multiple of 16, 32-bit indices enough. */
export function checkQuantShape(argument: string, shape: MatrixShape): void {
  if (shape.cols % VECTOR_BYTES !== 0) {
    throw new InvalidArgumentError(argument, "k (the last extent) must be a multiple of 16 (16-byte rows of e4m3 codes)", shape.cols);
  }
  const elements = shape.numGroups * alignedM(shape.rows) * shape.cols;
  if (elements >= INDEX_LIMIT) {
    throw new InvalidArgumentError(argument, "numGroups · alignedM(rows) · k must be below 2^32", elements);
  }
}

export interface TensorExpectation {
  device: Device;
  dtype: DType;
  shape: readonly number[];
  /** When given, the strides must be exactly these. */
  strides?: readonly number[];
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Checks a tensor's liveness, device, dtype, shape and (optionally) strides. */
export function checkTensor(argument: string, t: Tensor, expected: TensorExpectation): void {
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(argument, "must be a Tensor", typeof t);
  if (t.disposed) throw new DisposedError(argument);
  if (t.device !== expected.device) {
    throw new InvalidArgumentError(argument, `must live on device ${expected.device.ordinal}`, t.device.ordinal);
  }
  if (t.dtype !== expected.dtype) throw new InvalidArgumentError(argument, `dtype must be ${expected.dtype}`, t.dtype);
  if (!sameList(t.shape, expected.shape)) {
    throw new InvalidArgumentError(argument, `shape must be [${expected.shape.join(", ")}]`, [...t.shape]);
  }
  if (expected.strides !== undefined && !sameList(t.strides, expected.strides)) {
    throw new InvalidArgumentError(argument, `strides must be [${expected.strides.join(", ")}]`, [...t.strides]);
  }
}

/** Checks that `t` starts on a 16-byte boundary. */
export function checkVectorAligned(argument: string, t: Tensor): void {
  if (t.ptr % BigInt(VECTOR_BYTES) !== 0n) {
    throw new InvalidArgumentError(argument, "device address must be 16-byte aligned", t.ptr);
  }
}

/**
 * The row stride (in elements) of a cast input: last stride 1, rows spaced evenly by a stride of
 * at least `cols` that keeps every row 16-byte aligned, and groups one after another
 * (group stride = rows · row stride).
 */
export function inputRowStride(argument: string, x: Tensor, shape: MatrixShape): number {
  const rank = x.strides.length;
  const colStride = x.strides[rank - 1]!;
  const rowStride = x.strides[rank - 2]!;
  if (colStride !== 1 && shape.cols > 1) throw new InvalidArgumentError(argument, "the last dimension must be contiguous (stride 1)", [...x.strides]);
  if (rowStride < shape.cols && shape.rows > 1) {
    throw new InvalidArgumentError(argument, "the row stride must be at least k (rows must not overlap)", [...x.strides]);
  }
  if ((rowStride * dtypeBytes(x.dtype)) % VECTOR_BYTES !== 0) {
    throw new InvalidArgumentError(argument, "the row stride must be a multiple of 16 bytes", rowStride * dtypeBytes(x.dtype));
  }
  if (shape.batched && shape.numGroups > 1 && x.strides[0] !== shape.rows * rowStride) {
    throw new InvalidArgumentError(argument, "groups must follow each other: group stride = rows · row stride", [...x.strides]);
  }
  checkVectorAligned(argument, x);
  return rowStride;
}
