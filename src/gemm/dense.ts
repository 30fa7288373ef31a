/**
 * Dense FP8 GEMM, layout NT: D[M, N] = A[M, K] · B[N, K]ᵀ with fine-grained scales.
 */
import type { Device } from "../runtime/device.ts";
import type { Stream } from "../runtime/stream.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { KernelConfigOverride, OutDType } from "./config.ts";
import { GemmPlan } from "./plan.ts";
import { deviceLimits, resolveConfig } from "./resolveConfig.ts";
import { denseShapeSchema, parseOrThrow, planOptionsSchema } from "./schema.ts";

export interface Fp8GemmNtShape {
  m: number;
  n: number;
  /** A multiple of 16, at most 131072. */
  k: number;
  /** Default "bf16". */
  outDtype?: OutDType | undefined;
  /** D = C + A·Bᵀ (FP32 output only). Default false. */
  accumulate?: boolean | undefined;
}

export interface PlanOptions {
  /** Override fields of the heuristics' configuration (tuning and tests). */
  config?: Omit<KernelConfigOverride, "tmaStore"> | undefined;
  /**
   * Run on at most this many SMs: an integer from 1 to the device's SM count (default all). The
   * kernel is persistent, one CTA per SM, so its grid shrinks to this many CTAs (whole clusters) and
   * the heuristics choose tiles for them; the other SMs stay free for kernels running beside the
   * GEMM on other streams (communication, for instance).
   */
  maxSms?: number | undefined;
  /** Test-only: the kernel variant without promotion (valid only when scales are constant along K). */
  singleLevelForTest?: boolean | undefined;
}

/**
 * The operands of one dense call (DESIGN.md §2):
 * - `a`: e4m3 [M, K], row stride a multiple of 16 bytes, 16-byte aligned;
 * - `sfa`: f32 [ceil(K/128), alignUp(M, 4)] — the per-token 1x128 scales, transposed and TMA-aligned;
 * - `b`: e4m3 [N, K], row stride a multiple of 16 bytes;
 * - `sfb`: f32 [ceil(N/128), ceil(K/128)] — the 128x128 block scales, row-major;
 * - `d`: bf16 or f32 [M, N] contiguous, 16-byte aligned (written);
 * - `c`: f32 [M, N] contiguous (read; may be `d` itself), only with `accumulate`.
 */
export interface Fp8GemmNtArgs {
  a: Tensor;
  sfa: Tensor;
  b: Tensor;
  sfb: Tensor;
  d: Tensor;
  c?: Tensor | undefined;
}

/**
 * Validates the shape once, chooses the kernel configuration for `device`, and compiles (or loads
 * from the cache) its kernel. The returned plan's `run(args, stream)` costs only the operand
 * checks and the launch, and can be captured in a CUDA graph.
 *
 * @throws InvalidArgumentError for a shape or option that breaks a rule (the error names it; e.g.
 *   maxSms above the device's SM count, or a config override whose cluster holds more CTAs than
 *   maxSms allows, refused as `config`); CompileError / LibraryNotFoundError / CudaError while
 *   building the kernel.
 */
export function planFp8GemmNt(device: Device, shape: Fp8GemmNtShape, options: PlanOptions = {}): GemmPlan {
  const s = parseOrThrow(denseShapeSchema, shape, "shape");
  const o = parseOrThrow(planOptionsSchema, options, "options");
  const problem = { gemmType: "dense" as const, m: s.m, n: s.n, k: s.k, numGroups: 1, outDtype: s.outDtype, accumulate: s.accumulate };
  const singleLevel = o.singleLevelForTest ?? false;
  const resolved = resolveConfig(problem, deviceLimits(device, o.maxSms), o.config);
  // The single-level variant has one accumulator chain over all of K: nothing to pipeline.
  const config = singleLevel ? { ...resolved, pipelinedPromotion: false } : resolved;
  return new GemmPlan(device, problem, config, { singleLevel, maxSms: o.maxSms });
}

const plans = new Map<string, GemmPlan>();

/**
 * D = A · Bᵀ with 1x128 activation scales and 128x128 weight scales, into `args.d` (BF16 or FP32,
 * from its dtype); with `accumulate`, D = C + A · Bᵀ. Shapes come from the tensors; the plan for
 * each distinct shape is built on first use and kept. For hot loops prefer `planFp8GemmNt`.
 *
 * @throws InvalidArgumentError / DisposedError before any launch when an operand breaks a rule:
 *   wrong dtype, shape mismatch, misaligned stride or address, scales of the wrong shape, K not a
 *   multiple of 16, a tensor on another device, a disposed tensor.
 */
export function fp8GemmNt(args: Fp8GemmNtArgs, options: { stream?: Stream; accumulate?: boolean } = {}): void {
  const { a, b, d } = args;
  for (const [name, t] of [["a", a], ["b", b], ["d", d]] as const) {
    if (t === undefined || t === null || t.shape === undefined) throw new InvalidArgumentError(name, "must be a Tensor", t);
  }
  if (a.shape.length !== 2) throw new InvalidArgumentError("a.shape", "must be [M, K]", [...a.shape]);
  if (b.shape.length !== 2) throw new InvalidArgumentError("b.shape", "must be [N, K]", [...b.shape]);
  const [m, k] = a.shape as [number, number];
  const [n, kb] = b.shape as [number, number];
  if (kb !== k) throw new InvalidArgumentError("b.shape", `must be [N, ${k}] (K of a)`, [...b.shape]);
  if (d.dtype !== "bf16" && d.dtype !== "f32") throw new InvalidArgumentError("d.dtype", "must be bf16 or f32", d.dtype);
  const accumulate = options.accumulate ?? args.c !== undefined;
  const key = `${a.device.ordinal}:${m}:${n}:${k}:${d.dtype}:${accumulate}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = planFp8GemmNt(a.device, { m, n, k, outDtype: d.dtype, accumulate });
    plans.set(key, plan);
  }
  plan.run(args, options.stream);
}
