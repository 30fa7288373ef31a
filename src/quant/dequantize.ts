/**
 * GPU dequantization: FP8 e4m3 codes and their scales back to f32 or bf16, out = f32(decode(code) ·
 * scale), rounded to bf16 (nearest even) for bf16 output. NaN codes give NaN (bits unspecified).
 * Per token, the scales are in the TMA-aligned layout quantizePerToken returns; per block, the
 * contiguous [ceil(N/128), ceil(K/128)] layout quantizePerBlock returns.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import { NOT_CAPTURED } from "../runtime/launch.ts";
import type { Stream } from "../runtime/stream.ts";
import { checkDisjoint, contiguousStrides, Tensor } from "../tensor/tensor.ts";
import { checkQuantShape, checkTensor, checkVectorAligned, parseMatrixShape, type MatrixShape } from "./checks.ts";
import { launchQuantKernel, QUANT_THREADS, VALUES_PER_THREAD, type QuantKernelId } from "./kernels.ts";
import { contiguousScaleLayout, numBlocks, tmaAlignedScaleLayout, type ScaleTensorLayout } from "./layout.ts";
import { DequantizeOptionsSchema, parseOptions, type DequantizeOptions } from "./options.ts";

/** Output dtypes of dequantization. */
export type DequantOutDType = "bf16" | "f32";

const KERNELS: Record<"token" | "block", Record<DequantOutDType, QuantKernelId>> = {
  token: { bf16: "dequantPerTokenBf16", f32: "dequantPerTokenF32" },
  block: { bf16: "dequantPerBlockBf16", f32: "dequantPerBlockF32" },
};

/** A validated dequantization of one shape to one output dtype. */
export class DequantizePlan {
  readonly shape: readonly number[];
  /** Layout the scales must have. */
  readonly scaleLayout: Readonly<ScaleTensorLayout>;
  private readonly matrix: MatrixShape;
  private readonly strides: readonly number[];
  private readonly gridX: number;

  /** @internal Use planDequantizePerToken / planDequantizePerBlock. */
  constructor(
    readonly granularity: "token" | "block",
    shape: readonly number[],
    readonly outDtype: DequantOutDType,
  ) {
    const fn = granularity === "token" ? "planDequantizePerToken" : "planDequantizePerBlock";
    if (outDtype !== "bf16" && outDtype !== "f32") throw new InvalidArgumentError(`${fn}: outDtype`, "must be bf16 or f32", outDtype);
    this.matrix = parseMatrixShape(`${fn}: shape`, shape);
    checkQuantShape(`${fn}: shape`, this.matrix);
    this.shape = Object.freeze([...shape]);
    this.strides = contiguousStrides(shape);
    const { numGroups, rows, cols, batched } = this.matrix;
    this.scaleLayout =
      granularity === "token"
        ? tmaAlignedScaleLayout(rows, numBlocks(cols), numGroups, batched)
        : contiguousScaleLayout(numBlocks(rows), numBlocks(cols), numGroups, batched);
    this.gridX = Math.ceil((numGroups * rows * cols) / VALUES_PER_THREAD / QUANT_THREADS);
  }

  /** Dequantizes into a new contiguous tensor of `outDtype` on data's device. */
  run(data: Tensor, scales: Tensor, stream?: Stream): Tensor {
    const out = Tensor.empty(data.device, this.shape, this.outDtype);
    try {
      this.runInto(data, scales, out, stream);
    } catch (error) {
      out.dispose();
      throw error;
    }
    return out;
  }

  /** Dequantizes into `out` (contiguous, `outDtype`, this plan's shape): no allocation. */
  runInto(data: Tensor, scales: Tensor, out: Tensor, stream?: Stream): void {
    const device = data.device;
    checkTensor("data", data, { device, dtype: "e4m3", shape: this.shape, strides: this.strides });
    checkVectorAligned("data", data);
    checkTensor("scales", scales, { device, dtype: "f32", shape: this.scaleLayout.shape, strides: this.scaleLayout.strides });
    checkTensor("out", out, { device, dtype: this.outDtype, shape: this.shape, strides: this.strides });
    checkVectorAligned("out", out);
    checkDisjoint("out", out, "data", data);
    checkDisjoint("out", out, "scales", scales);
    const { numGroups, rows, cols } = this.matrix;
    const values = { data: data.ptr, scales: scales.ptr, out: out.ptr, rows, k: cols, numGroups };
    launchQuantKernel(device, KERNELS[this.granularity][this.outDtype], this.gridX, values, stream, stream?.capturing ? [data, scales, out] : NOT_CAPTURED);
  }
}

/** Plans dequantization of per-token data of `shape` ([M, K] or [G, M, K]) to `outDtype`. */
export function planDequantizePerToken(shape: readonly number[], outDtype: DequantOutDType = "bf16"): DequantizePlan {
  return new DequantizePlan("token", shape, outDtype);
}

/** Plans dequantization of per-block data of `shape` ([N, K] or [G, N, K]) to `outDtype`. */
export function planDequantizePerBlock(shape: readonly number[], outDtype: DequantOutDType = "bf16"): DequantizePlan {
  return new DequantizePlan("block", shape, outDtype);
}

function dequantize(fn: string, granularity: "token" | "block", device: Device, data: Tensor, scales: Tensor, options: unknown): Tensor {
  const { outDtype, stream } = parseOptions(fn, DequantizeOptionsSchema, options);
  if (data.device !== device) throw new InvalidArgumentError(`${fn}: data`, `must live on device ${device.ordinal}`, data.device.ordinal);
  return new DequantizePlan(granularity, data.shape, outDtype ?? "bf16").run(data, scales, stream);
}

/**
 * Dequantizes per-token e4m3 `data` ([M, K] or [G, M, K]) with TMA-aligned `scales` (as
 * quantizePerToken returns them) to bf16 (default) or f32.
 * @throws InvalidArgumentError for any shape, dtype, layout, alignment, device or option problem.
 */
export function dequantizePerToken(device: Device, data: Tensor, scales: Tensor, options?: DequantizeOptions): Tensor {
  return dequantize("dequantizePerToken", "token", device, data, scales, options);
}

/**
 * Dequantizes per-block e4m3 `data` ([N, K] or [G, N, K]) with contiguous `scales`
 * [ceil(N/128), ceil(K/128)] (or [G, …]) to bf16 (default) or f32.
 * @throws InvalidArgumentError as dequantizePerToken.
 */
export function dequantizePerBlock(device: Device, data: Tensor, scales: Tensor, options?: DequantizeOptions): Tensor {
  return dequantize("dequantizePerBlock", "block", device, data, scales, options);
}
