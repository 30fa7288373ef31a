/**
 * bungemm: FP8 block-scaled GEMMs for NVIDIA Hopper from Bun, through the CUDA driver and NVRTC.
 * The curated public surface; everything else under src/ is internal and may change.
 */

// Errors: every failure is one of these, with the rule and the value as fields.
export {
  BungemmError,
  CompileError,
  CudaError,
  DeviceDataError,
  DisposedError,
  InvalidArgumentError,
  LibraryNotFoundError,
  NvrtcError,
} from "./errors.ts";

// Runtime: devices, memory, streams, events, graphs.
export { Device, hasCudaDevice, driverVersion } from "./runtime/device.ts";
export { Stream } from "./runtime/stream.ts";
export { Event } from "./runtime/event.ts";
export { CudaGraph } from "./runtime/graph.ts";
export { Tensor } from "./tensor/tensor.ts";
export type { DType } from "./tensor/dtype.ts";

// Host codecs.
export { encodeE4m3, decodeE4m3, encodeE4m3Array, decodeE4m3Array, E4M3_MAX } from "./tensor/fp8.ts";
export { encodeBf16, decodeBf16, encodeBf16Array, decodeBf16Array } from "./tensor/bf16.ts";

// GEMMs.
export {
  fp8GemmNt,
  planFp8GemmNt,
  GemmPlan,
  mGroupedFp8GemmNtContiguous,
  mGroupedFp8GemmNtMasked,
  planMGroupedFp8GemmNtContiguous,
  planMGroupedFp8GemmNtMasked,
  MGroupedContiguousPlan,
  MGroupedMaskedPlan,
  M_ALIGNMENT,
  contiguousLayout,
  scatterRowsToContiguous,
  gatherRowsFromContiguous,
  buildMIndices,
  planBuildMIndices,
  MIndicesBuildPlan,
  selectConfig,
  BLOCK_K,
  type Fp8GemmNtArgs,
  type Fp8GemmNtShape,
  type PlanOptions,
  type GemmOperands,
  type KernelConfig,
  type KernelConfigOverride,
  type GemmProblem,
  type OutDType,
  type MGroupedContiguousArgs,
  type MGroupedContiguousShape,
  type MGroupedMaskedArgs,
  type MGroupedMaskedShape,
  type GroupedPlanOptions,
  type GroupedCallOptions,
  type ContiguousLayout,
} from "./gemm/index.ts";

// Quantization and layouts (GPU), and their CPU references.
export { quantizePerToken, quantizePerBlock, planQuantizePerToken, planQuantizePerBlock, QuantizePlan, type QuantizedTensors } from "./quant/quantize.ts";
export { dequantizePerToken, dequantizePerBlock, planDequantizePerToken, planDequantizePerBlock, DequantizePlan } from "./quant/dequantize.ts";
export { transformScalesToTmaAligned, transformScalesFromTmaAligned } from "./quant/scaleTransform.ts";
export {
  quantizePerTokenReference,
  quantizePerBlockReference,
  dequantizePerTokenReference,
  dequantizePerBlockReference,
  referenceGemmNt,
  referenceGemmNtRows,
  relativeFrobeniusError,
  AMAX_FLOOR,
} from "./quant/reference.ts";
export { alignedM, scalesToTmaAligned, scalesFromTmaAligned, QUANT_BLOCK } from "./quant/layout.ts";

// JIT statistics and cache control.
export { jitStats, resetJitStats, type JitStats } from "./jit/jit.ts";
