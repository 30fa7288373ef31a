/**
 * The quantization kernels as one generated translation unit (all entries in one module, so one
 * compile serves every entry: the disk cache key is the source, not the entry name), the
 * parameter lists both sides agree on, and launching them.
 *
 * Each entry's C++ parameters are generated from the same field list that builds its KernelArgs,
 * so the TypeScript and CUDA sides cannot disagree on order or types.
 */
import { getKernel } from "../jit/jit.ts";
import type { Device } from "../runtime/device.ts";
import { KernelArgs, type KernelArgField, type KernelArgKind } from "../runtime/kernelArgs.ts";
import { launchKernel } from "../runtime/launch.ts";
import type { KernelFunction } from "../runtime/module.ts";
import { checkStream, type CapturedResource, type Stream } from "../runtime/stream.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** Threads per CTA of every quantization kernel (cuda/bungemm/quant.cuh kThreads). */
export const QUANT_THREADS = 256;
/** e4m3 codes (and input values) per thread in the cast and dequantize kernels. */
export const VALUES_PER_THREAD = 16;
/** Per-token cast: a warp takes this many consecutive k-blocks of one row (8 lanes each). */
export const PER_TOKEN_STRIPS_PER_WARP = 4;
/** Per-token cast: rows per CTA (one row per warp). */
export const PER_TOKEN_ROWS_PER_CTA = QUANT_THREADS / 32;

/** CTAs of the per-token cast: (groups) x (blocks of 8 padded rows) x (groups of 4 k-blocks). */
export function perTokenGrid(numGroups: number, paddedRows: number, kBlocks: number): number {
  return numGroups * Math.ceil(paddedRows / PER_TOKEN_ROWS_PER_CTA) * Math.ceil(kBlocks / PER_TOKEN_STRIPS_PER_WARP);
}

const CAST_FIELDS: readonly KernelArgField[] = [
  { name: "x", kind: "u64" },
  { name: "out", kind: "u64" },
  { name: "scales", kind: "u64" },
  { name: "rows", kind: "u32" },
  { name: "k", kind: "u32" },
  { name: "numGroups", kind: "u32" },
  { name: "xRowStride", kind: "u64" },
];

const DEQUANT_FIELDS: readonly KernelArgField[] = [
  { name: "data", kind: "u64" },
  { name: "scales", kind: "u64" },
  { name: "out", kind: "u64" },
  { name: "rows", kind: "u32" },
  { name: "k", kind: "u32" },
  { name: "numGroups", kind: "u32" },
];

const TRANSFORM_FIELDS: readonly KernelArgField[] = [
  { name: "src", kind: "u64" },
  { name: "dst", kind: "u64" },
  { name: "m", kind: "u32" },
  { name: "kBlocks", kind: "u32" },
  { name: "numGroups", kind: "u32" },
];

interface QuantKernelSpec {
  /** The `extern "C"` entry name. */
  entry: string;
  /** The device function in namespace bungemm::quant it forwards to, with template arguments. */
  call: string;
  fields: readonly KernelArgField[];
}

const PER_TOKEN_LAYOUT = "bungemm::quant::ScaleLayout::kPerTokenTmaAligned";
const PER_BLOCK_LAYOUT = "bungemm::quant::ScaleLayout::kPerBlock";

/** Every quantization kernel, by id. */
export const QUANT_KERNELS = {
  perTokenBf16: { entry: "bungemm_quant_per_token_bf16", call: "per_token_cast<false>", fields: CAST_FIELDS },
  perTokenF32: { entry: "bungemm_quant_per_token_f32", call: "per_token_cast<true>", fields: CAST_FIELDS },
  perBlockBf16: { entry: "bungemm_quant_per_block_bf16", call: "per_block_cast<false>", fields: CAST_FIELDS },
  perBlockF32: { entry: "bungemm_quant_per_block_f32", call: "per_block_cast<true>", fields: CAST_FIELDS },
  dequantPerTokenBf16: { entry: "bungemm_dequant_per_token_bf16", call: `dequantize<${PER_TOKEN_LAYOUT}, false>`, fields: DEQUANT_FIELDS },
  dequantPerTokenF32: { entry: "bungemm_dequant_per_token_f32", call: `dequantize<${PER_TOKEN_LAYOUT}, true>`, fields: DEQUANT_FIELDS },
  dequantPerBlockBf16: { entry: "bungemm_dequant_per_block_bf16", call: `dequantize<${PER_BLOCK_LAYOUT}, false>`, fields: DEQUANT_FIELDS },
  dequantPerBlockF32: { entry: "bungemm_dequant_per_block_f32", call: `dequantize<${PER_BLOCK_LAYOUT}, true>`, fields: DEQUANT_FIELDS },
  scalesToTmaAligned: { entry: "bungemm_scales_to_tma_aligned", call: "scales_to_tma_aligned", fields: TRANSFORM_FIELDS },
  scalesFromTmaAligned: { entry: "bungemm_scales_from_tma_aligned", call: "scales_from_tma_aligned", fields: TRANSFORM_FIELDS },
} as const satisfies Record<string, QuantKernelSpec>;

export type QuantKernelId = keyof typeof QUANT_KERNELS;

const CPP_TYPES: Record<Exclude<KernelArgKind, "tensorMap">, string> = {
  u64: "bungemm::uint64_t",
  u32: "bungemm::uint32_t",
  i32: "bungemm::int32_t",
  f32: "float",
};

function renderEntry(spec: QuantKernelSpec): string {
  const params = spec.fields.map((f) => {
    if (f.kind === "tensorMap") throw new Error(`quant kernels take no tensor maps (${spec.entry}.${f.name})`);
    return `${CPP_TYPES[f.kind]} ${f.name}`;
  });
  const args = spec.fields.map((f) => f.name).join(", ");
  return [
    `extern "C" __global__ void __launch_bounds__(${QUANT_THREADS}) ${spec.entry}(${params.join(", ")}) {`,
    `  bungemm::quant::${spec.call}(${args});`,
    "}",
  ].join("\n");
}

let source: string | undefined;

/** The translation unit holding every quantization entry. */
export function quantKernelSource(): string {
  source ??= [
    "// Generated by src/quant/kernels.ts: bungemm's quantization kernels.",
    "#include <bungemm/quant.cuh>",
    ...Object.values(QUANT_KERNELS).map(renderEntry),
    "",
  ].join("\n\n");
  return source;
}

interface LoadedKernel {
  fn: KernelFunction;
  args: KernelArgs;
}

// Per device, per id: the function and its argument blob, so a warm launch rewrites fields only.
const loaded = new WeakMap<Device, Map<QuantKernelId, LoadedKernel>>();

function kernelFor(device: Device, id: QuantKernelId): LoadedKernel {
  let perDevice = loaded.get(device);
  if (perDevice === undefined) {
    perDevice = new Map();
    loaded.set(device, perDevice);
  }
  let kernel = perDevice.get(id);
  if (kernel === undefined) {
    const spec = QUANT_KERNELS[id];
    kernel = { fn: getKernel(device, { name: spec.entry, source: quantKernelSource() }), args: new KernelArgs(spec.fields) };
    perDevice.set(id, kernel);
  }
  return kernel;
}

/** Argument values by field name (addresses as bigint). */
export type QuantKernelValues = Readonly<Record<string, number | bigint>>;

/**
 * Launches kernel `id` on `gridX` CTAs of QUANT_THREADS threads. The caller has validated every
 * shape and address; `values` must name every field of the kernel; `uses`, the tensors it reads and
 * writes (kept by a graph being captured on `stream`).
 */
export function launchQuantKernel(
  device: Device,
  id: QuantKernelId,
  gridX: number,
  values: QuantKernelValues,
  stream: Stream | undefined,
  uses: readonly (CapturedResource | Tensor)[],
): void {
  checkStream("stream", stream, device);
  const { fn, args } = kernelFor(device, id);
  device.activate();
  for (const field of QUANT_KERNELS[id].fields) {
    const value = values[field.name];
    if (value === undefined) throw new Error(`launchQuantKernel(${id}): no value for ${field.name}`);
    args.set(field.name, value);
  }
  launchKernel(fn, { grid: [gridX, 1, 1], block: [QUANT_THREADS, 1, 1], sharedBytes: 0, stream }, args, uses);
}
