/**
 * GPU transforms of A scales between the logical layout [M, ceil(K/128)] (or [G, M, ceil(K/128)])
 * and the transposed, TMA-aligned one the GEMM reads, [ceil(K/128), alignedM(M)] (or [G, …]),
 * padding rows written as 0. Both contiguous. For scales made elsewhere (another quantizer, a
 * checkpoint); quantizePerToken already writes the aligned layout.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import { contiguousStrides, Tensor } from "../tensor/tensor.ts";
import { checkTensor, parseMatrixShape, type MatrixShape } from "./checks.ts";
import { launchQuantKernel, QUANT_THREADS } from "./kernels.ts";
import { alignedM, tmaAlignedScaleLayout } from "./layout.ts";
import { parseOptions, QuantizeOptionsSchema, type QuantizeOptions } from "./options.ts";

// Padding grows a scale tensor by at most 3 rows in 4: below 2^30 elements, every index fits in 32 bits.
const ELEMENT_LIMIT = 2 ** 30;

function parseScaleShape(fn: string, device: Device, scales: Tensor): MatrixShape {
  const shape = parseMatrixShape(`${fn}: scales`, scales.shape);
  const elements = shape.numGroups * shape.rows * shape.cols;
  if (elements >= ELEMENT_LIMIT) throw new InvalidArgumentError(`${fn}: scales`, "must have fewer than 2^30 elements", elements);
  if (scales.device !== device) throw new InvalidArgumentError(`${fn}: scales`, `must live on device ${device.ordinal}`, scales.device.ordinal);
  return shape;
}

/**
 * Logical f32 scales [M, kBlocks] (or [G, M, kBlocks]) → a new tensor [kBlocks, alignedM(M)]
 * (or [G, kBlocks, alignedM(M)]).
 * @throws InvalidArgumentError when `scales` is not a contiguous f32 rank-2/3 tensor on `device`.
 */
export function transformScalesToTmaAligned(device: Device, scales: Tensor, options?: QuantizeOptions): Tensor {
  const fn = "transformScalesToTmaAligned";
  const { stream } = parseOptions(fn, QuantizeOptionsSchema, options);
  const { numGroups, rows: m, cols: kBlocks, batched } = parseScaleShape(fn, device, scales);
  checkTensor(`${fn}: scales`, scales, { device, dtype: "f32", shape: scales.shape, strides: contiguousStrides(scales.shape) });
  const layout = tmaAlignedScaleLayout(m, kBlocks, numGroups, batched);
  const out = Tensor.empty(device, layout.shape, "f32");
  try {
    const gridX = Math.ceil(layout.allocElements / QUANT_THREADS);
    launchQuantKernel(device, "scalesToTmaAligned", gridX, { src: scales.ptr, dst: out.ptr, m, kBlocks, numGroups }, stream, [scales, out]);
  } catch (error) {
    out.dispose();
    throw error;
  }
  return out;
}

/**
 * TMA-aligned scales [kBlocks, alignedM(M)] (or [G, kBlocks, alignedM(M)]) → a new contiguous
 * tensor [M, kBlocks] (or [G, M, kBlocks]). `m`, the real row count, cannot be read from the padded
 * shape, so it is passed.
 * @throws InvalidArgumentError when `m` does not pad to the scales' last extent, or `scales` is not
 *   a contiguous f32 rank-2/3 tensor on `device`.
 */
export function transformScalesFromTmaAligned(device: Device, scales: Tensor, m: number, options?: QuantizeOptions): Tensor {
  const fn = "transformScalesFromTmaAligned";
  const { stream } = parseOptions(fn, QuantizeOptionsSchema, options);
  const { numGroups, rows: kBlocks, cols: mPad, batched } = parseScaleShape(fn, device, scales);
  if (!Number.isSafeInteger(m) || m < 1 || alignedM(m) !== mPad) {
    throw new InvalidArgumentError(`${fn}: m`, `must be a positive integer that rounds up to the scales' last extent ${mPad}`, m);
  }
  checkTensor(`${fn}: scales`, scales, { device, dtype: "f32", shape: scales.shape, strides: contiguousStrides(scales.shape) });
  const out = Tensor.empty(device, batched ? [numGroups, m, kBlocks] : [m, kBlocks], "f32");
  try {
    const gridX = Math.ceil(out.numel / QUANT_THREADS);
    launchQuantKernel(device, "scalesFromTmaAligned", gridX, { src: scales.ptr, dst: out.ptr, m, kBlocks, numGroups }, stream, [scales, out]);
  } catch (error) {
    out.dispose();
    throw error;
  }
  return out;
}
