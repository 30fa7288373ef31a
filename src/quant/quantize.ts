/**
 * GPU casts of BF16/F32 data to FP8 e4m3 with f32 scales (policy: docs/quantization.md; bit-exact
 * CPU twin: reference.ts).
 *
 * - per token, 1x128 (activations, GEMM operand A): x [M, K] or [G, M, K] → data (same shape, e4m3)
 *   and scales stored transposed and TMA-aligned, [ceil(K/128), alignedM(M)] (or [G, …]), padding
 *   rows 0: exactly the `sfa` operand of the GEMM.
 * - per block, 128x128 (weights, operand B): x [N, K] or [G, N, K] → data and contiguous scales
 *   [ceil(N/128), ceil(K/128)] (or [G, …]).
 *
 * A plan (`planQuantizePerToken(shape, dtype)`) checks the shape once; `plan.run` then only checks
 * that the tensors fit it and launches. The one-call forms build a plan per call.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import type { DType } from "../tensor/dtype.ts";
import { NOT_CAPTURED } from "../runtime/launch.ts";
import type { Stream } from "../runtime/stream.ts";
import { checkDisjoint, contiguousStrides, Tensor } from "../tensor/tensor.ts";
import { checkQuantShape, checkTensor, checkVectorAligned, inputRowStride, parseMatrixShape, type MatrixShape } from "./checks.ts";
import { launchQuantKernel, perTokenGrid, type QuantKernelId } from "./kernels.ts";
import { alignedM, contiguousScaleLayout, numBlocks, tmaAlignedScaleLayout, type ScaleTensorLayout } from "./layout.ts";
import { parseOptions, QuantizeOptionsSchema, type QuantizeOptions } from "./options.ts";

/** Input dtypes the casts accept. */
export type QuantInputDType = "bf16" | "f32";

/** FP8 codes and their scales on the device. Dispose both when done. */
export interface QuantizedTensors {
  data: Tensor;
  scales: Tensor;
}

type Granularity = "token" | "block";

/** A validated cast of one input shape and dtype; reusable for any tensor of that shape. */
export class QuantizePlan {
  /** e4m3 output shape (= the input shape). */
  readonly shape: readonly number[];
  /** Layout of the scale tensor `run` returns (and `runInto` expects). */
  readonly scaleLayout: Readonly<ScaleTensorLayout>;
  private readonly matrix: MatrixShape;
  private readonly kernel: QuantKernelId;
  private readonly gridX: number;

  /** @internal Use planQuantizePerToken / planQuantizePerBlock. */
  constructor(
    readonly granularity: Granularity,
    shape: readonly number[],
    readonly dtype: QuantInputDType,
  ) {
    const fn = granularity === "token" ? "planQuantizePerToken" : "planQuantizePerBlock";
    if (dtype !== "bf16" && dtype !== "f32") throw new InvalidArgumentError(`${fn}: dtype`, "must be bf16 or f32", dtype);
    this.matrix = parseMatrixShape(`${fn}: shape`, shape);
    checkQuantShape(`${fn}: shape`, this.matrix);
    this.shape = Object.freeze([...shape]);
    const { numGroups, rows, cols, batched } = this.matrix;
    const kBlocks = numBlocks(cols);
    if (granularity === "token") {
      this.scaleLayout = tmaAlignedScaleLayout(rows, kBlocks, numGroups, batched);
      this.kernel = dtype === "bf16" ? "perTokenBf16" : "perTokenF32";
      this.gridX = perTokenGrid(numGroups, alignedM(rows), kBlocks);
    } else {
      this.scaleLayout = contiguousScaleLayout(numBlocks(rows), kBlocks, numGroups, batched);
      this.kernel = dtype === "bf16" ? "perBlockBf16" : "perBlockF32";
      this.gridX = numGroups * numBlocks(rows) * kBlocks;
    }
  }

  /** Allocates output tensors for this plan on `device` (uninitialised). */
  allocateOutputs(device: Device): QuantizedTensors {
    const data = Tensor.empty(device, this.shape, "e4m3");
    try {
      return { data, scales: Tensor.empty(device, this.scaleLayout.shape, "f32") };
    } catch (error) {
      data.dispose();
      throw error;
    }
  }

  /** Quantizes `x` into new tensors on x's device. */
  run(x: Tensor, stream?: Stream): QuantizedTensors {
    const out = this.allocateOutputs(x.device);
    try {
      this.runInto(x, out, stream);
    } catch (error) {
      out.data.dispose();
      out.scales.dispose();
      throw error;
    }
    return out;
  }

  /**
   * Quantizes `x` into `out` (from allocateOutputs, or tensors of the same shapes and strides):
   * no allocation. Queued on `stream` (default: the legacy default stream).
   */
  runInto(x: Tensor, out: QuantizedTensors, stream?: Stream): void {
    const device = x.device;
    checkTensor("x", x, { device, dtype: this.dtype, shape: this.shape });
    const xRowStride = inputRowStride("x", x, this.matrix);
    checkTensor("out.data", out.data, { device, dtype: "e4m3", shape: this.shape, strides: contiguousStrides(this.shape) });
    checkVectorAligned("out.data", out.data);
    const { shape, strides } = this.scaleLayout;
    checkTensor("out.scales", out.scales, { device, dtype: "f32", shape, strides });
    checkDisjoint("out.data", out.data, "x", x);
    checkDisjoint("out.scales", out.scales, "x", x);
    checkDisjoint("out.scales", out.scales, "out.data", out.data);
    const { numGroups, rows, cols } = this.matrix;
    launchQuantKernel(
      device,
      this.kernel,
      this.gridX,
      { x: x.ptr, out: out.data.ptr, scales: out.scales.ptr, rows, k: cols, numGroups, xRowStride },
      stream,
      stream?.capturing ? [x, out.data, out.scales] : NOT_CAPTURED,
    );
  }
}

/**
 * Plans a per-token 1x128 cast of `shape` ([M, K] or [G, M, K]) from `dtype`.
 * @throws InvalidArgumentError when the dtype is not bf16/f32, the rank is not 2 or 3, an extent is
 *   not positive, K is not a multiple of 16, or the problem needs indices past 2^32.
 */
export function planQuantizePerToken(shape: readonly number[], dtype: DType): QuantizePlan {
  return new QuantizePlan("token", shape, dtype as QuantInputDType);
}

/** Plans a per-block 128x128 cast of `shape` ([N, K] or [G, N, K]); same rules as planQuantizePerToken. */
export function planQuantizePerBlock(shape: readonly number[], dtype: DType): QuantizePlan {
  return new QuantizePlan("block", shape, dtype as QuantInputDType);
}

function checkDevice(fn: string, device: Device, x: Tensor): void {
  if (x.device !== device) throw new InvalidArgumentError(`${fn}: x`, `must live on device ${device.ordinal}`, x.device.ordinal);
}

/**
 * Per-token 1x128 quantization of activations x (bf16/f32, [M, K] or [G, M, K], rows 16-byte
 * aligned, K a multiple of 16) on `device`. Returns e4m3 data of x's shape and f32 scales in the
 * GEMM's A-scale layout: transposed and TMA-aligned, [ceil(K/128), alignedM(M)] (or [G, …]).
 * @throws InvalidArgumentError for any shape, dtype, stride, alignment, device or option problem.
 */
export function quantizePerToken(device: Device, x: Tensor, options?: QuantizeOptions): QuantizedTensors {
  const { stream } = parseOptions("quantizePerToken", QuantizeOptionsSchema, options);
  checkDevice("quantizePerToken", device, x);
  return planQuantizePerToken(x.shape, x.dtype).run(x, stream);
}

/**
 * Per-block 128x128 quantization of weights x (bf16/f32, [N, K] or [G, N, K]) on `device`.
 * Returns e4m3 data of x's shape and contiguous f32 scales [ceil(N/128), ceil(K/128)] (or [G, …]).
 * @throws InvalidArgumentError as quantizePerToken.
 */
export function quantizePerBlock(device: Device, x: Tensor, options?: QuantizeOptions): QuantizedTensors {
  const { stream } = parseOptions("quantizePerBlock", QuantizeOptionsSchema, options);
  checkDevice("quantizePerBlock", device, x);
  return planQuantizePerBlock(x.shape, x.dtype).run(x, stream);
}
