/**
 * M-grouped FP8 GEMMs for Mixture-of-Experts, layout NT (DESIGN §2): G experts share N and K and
 * differ in how many rows (tokens) each gets. Two layouts, one kernel body (the scheduler tells
 * them apart, cuda/bungemm/scheduler.cuh):
 *
 * - contiguous (prefill, training): the experts' rows one after another in A [M_total, K], each
 *   segment padded to M_ALIGNMENT rows; `mIndices` [M_total] says each row's expert (-1: padding,
 *   not written). D[r] = A[r] · B[mIndices[r]]ᵀ.
 * - masked (decode under CUDA graphs): A [G, M_max, K]; `maskedM` [G] (on the device, never read by
 *   the host) says how many rows of each group are real; rows at or past it are not computed.
 *   D[g, r] = A[g, r] · B[g]ᵀ for r < maskedM[g].
 *
 * Both take per-token 1x128 A scales (TMA-aligned, per group for masked) and per-128x128-block B
 * scales per expert, and write BF16.
 *
 * Non-finite weights in the contiguous layout: where one 256-row tile holds the last 128-row block
 * of one expert and the first of the next, the kernel multiplies both halves by each expert's
 * weights in turn; the first half's sums wait in shared memory while the second expert's pass runs,
 * and the second half restarts from zero for it, so a NaN weight code or a non-finite B scale of
 * one expert stays in that expert's rows (a GPU test puts one of each beside a neighbour).
 */
import type { Device } from "../runtime/device.ts";
import { checkStream, type Stream } from "../runtime/stream.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { GemmProblem, KernelConfig, KernelConfigOverride } from "./config.ts";
import { checkMIndices, checkMaskedM, debugChecksDefault, readIndices } from "./groupedChecks.ts";
import {
  contiguousShapeOf,
  groupedPlanOptionsSchema,
  maskedShapeOf,
  parseContiguousShape,
  parseMaskedShape,
  type ContiguousShape,
  type MaskedShape,
} from "./groupedShapes.ts";
import { checkOperand, type OperandRule } from "./operands.ts";
import { GemmPlan } from "./plan.ts";
import { deviceLimits, resolveConfig } from "./resolveConfig.ts";
import { parseOrThrow } from "./schema.ts";

export { M_ALIGNMENT } from "./groupedShapes.ts";

/** The static shape of a contiguous grouped GEMM. */
export interface MGroupedContiguousShape {
  /** Rows of A and D: the sum of the experts' padded segments, a multiple of M_ALIGNMENT (128). */
  mTotal: number;
  n: number;
  /** A multiple of 16, at most 131072. */
  k: number;
  /** G, the number of experts (B's first dimension). */
  numGroups: number;
}

/** The static shape of a masked grouped GEMM. */
export interface MGroupedMaskedShape {
  /** M_max: rows per group of A and D (the capacity; maskedM[g] ≤ M_max rows are real). */
  mMax: number;
  n: number;
  /** A multiple of 16, at most 131072. */
  k: number;
  numGroups: number;
  /** Host hint: the number of real rows a group usually has; chooses the tile shape. Default mMax. */
  expectedM?: number | undefined;
}

export interface GroupedPlanOptions {
  /** Override fields of the heuristics' configuration (tuning and tests). */
  config?: Omit<KernelConfigOverride, "tmaStore"> | undefined;
  /** Run on at most this many SMs (1 to the device's SM count; default all): see PlanOptions.maxSms. */
  maxSms?: number | undefined;
  /**
   * Copy mIndices / maskedM to the host before every launch (synchronising the stream) and throw
   * DeviceDataError for out-of-range values. Default: BUNGEMM_DEBUG_CHECKS. Not for CUDA graphs.
   */
  debugChecks?: boolean | undefined;
}

/**
 * The operands of a contiguous call:
 * - `a`: e4m3 [M_total, K], row stride a multiple of 16 bytes; expert g's rows in one segment, padded to M_ALIGNMENT;
 * - `sfa`: f32 [ceil(K/128), alignUp(M_total, 4)] — the per-token 1x128 scales, transposed and TMA-aligned;
 * - `b`: e4m3 [G, N, K] contiguous — every expert's weights;
 * - `sfb`: f32 [G, ceil(N/128), ceil(K/128)] — 128x128 block scales per expert, row-major;
 * - `d`: bf16 [M_total, N] contiguous, 16-byte aligned (padding rows are not written);
 * - `mIndices`: i32 [M_total] on the device — each row's expert, -1 for padding rows.
 */
export interface MGroupedContiguousArgs {
  a: Tensor;
  sfa: Tensor;
  b: Tensor;
  sfb: Tensor;
  d: Tensor;
  mIndices: Tensor;
}

/**
 * The operands of a masked call:
 * - `a`: e4m3 [G, M_max, K] contiguous;
 * - `sfa`: f32 [G, ceil(K/128), alignUp(M_max, 4)] — per group, transposed and TMA-aligned;
 * - `b`: e4m3 [G, N, K] contiguous;
 * - `sfb`: f32 [G, ceil(N/128), ceil(K/128)];
 * - `d`: bf16 [G, M_max, N] contiguous (rows at or past maskedM[g] are not written);
 * - `maskedM`: i32 [G] on the device — real rows per group, clamped into [0, M_max] by the kernel.
 */
export interface MGroupedMaskedArgs {
  a: Tensor;
  sfa: Tensor;
  b: Tensor;
  sfb: Tensor;
  d: Tensor;
  maskedM: Tensor;
}

/** What the two layouts share: the operands of the kernel besides the grouping data. */
type CommonArgs = Pick<MGroupedContiguousArgs, "a" | "sfa" | "b" | "sfb" | "d">;

/**
 * A planned grouped GEMM: checks the grouping tensor (by its public name), optionally checks its
 * values on the host, and hands everything to the kernel plan.
 */
abstract class GroupedPlan<Args extends CommonArgs> {
  private readonly layoutRule: OperandRule;

  protected constructor(
    /** The underlying kernel plan (config, grid, kernel name). */
    readonly plan: GemmPlan,
    /** Whether `run` checks the grouping data by default (the option, else BUNGEMM_DEBUG_CHECKS at plan time). */
    readonly debugChecks: boolean,
    private readonly layoutName: "mIndices" | "maskedM",
    layoutLength: number,
    private readonly checkValues: (values: Int32Array) => void,
  ) {
    this.layoutRule = { dtype: "i32", align: 4, layout: "contiguous", shape: [layoutLength] };
  }

  get config(): Readonly<KernelConfig> {
    return this.plan.config;
  }

  /** Frees what the plan owns on the device (the masked split-K workspace); `run` then throws DisposedError. */
  dispose(): void {
    this.plan.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  protected abstract layoutOf(args: Args): Tensor;

  /**
   * Queues the GEMM on `stream` (the legacy default stream when omitted). Without debug checks it
   * never synchronises and never reads the grouping data, so it can be captured in a CUDA graph and
   * replayed with new values written into mIndices / maskedM.
   * @param debugChecks this call's choice; default the plan's.
   * @throws InvalidArgumentError / DisposedError for an operand that breaks a rule (nothing is
   *   launched); DeviceDataError from the debug checks.
   */
  run(args: Args, stream?: Stream, debugChecks: boolean = this.debugChecks): void {
    checkStream("stream", stream, this.plan.device);
    const layout = this.layoutOf(args);
    checkOperand(this.layoutName, layout, this.layoutRule, this.plan.device);
    if (debugChecks) this.checkValues(readIndices(layout, stream));
    this.plan.run({ a: args.a, sfa: args.sfa, b: args.b, sfb: args.sfb, d: args.d, groupedLayout: layout }, stream);
  }
}

/** A planned contiguous grouped GEMM (`planMGroupedFp8GemmNtContiguous`). */
export class MGroupedContiguousPlan extends GroupedPlan<MGroupedContiguousArgs> {
  constructor(plan: GemmPlan, readonly shape: Readonly<ContiguousShape>, debugChecks: boolean) {
    super(plan, debugChecks, "mIndices", shape.mTotal, (values) => checkMIndices(values, shape.numGroups));
  }

  protected layoutOf(args: MGroupedContiguousArgs): Tensor {
    return args.mIndices;
  }
}

/** A planned masked grouped GEMM (`planMGroupedFp8GemmNtMasked`); the host never reads maskedM. */
export class MGroupedMaskedPlan extends GroupedPlan<MGroupedMaskedArgs> {
  constructor(plan: GemmPlan, readonly shape: Readonly<MaskedShape>, debugChecks: boolean) {
    super(plan, debugChecks, "maskedM", shape.numGroups, (values) => checkMaskedM(values, shape.mMax));
  }

  protected layoutOf(args: MGroupedMaskedArgs): Tensor {
    return args.maskedM;
  }
}

/** The kernel problem of a contiguous shape (exported for tests and the benchmark). */
export function contiguousProblem(s: ContiguousShape): GemmProblem {
  return { gemmType: "contiguous", m: s.mTotal, n: s.n, k: s.k, numGroups: s.numGroups, outDtype: "bf16", accumulate: false };
}

/** The kernel problem of a masked shape; expectedM defaults to mMax. */
export function maskedProblem(s: MaskedShape): GemmProblem {
  return {
    gemmType: "masked",
    m: s.mMax,
    n: s.n,
    k: s.k,
    numGroups: s.numGroups,
    outDtype: "bf16",
    accumulate: false,
    expectedM: s.expectedM ?? s.mMax,
  };
}

/**
 * Validates a contiguous grouped shape once, chooses the kernel configuration for `device` and
 * compiles (or loads from the cache) its kernel.
 * @throws InvalidArgumentError for a shape or option that breaks a rule (mTotal not a multiple of
 *   M_ALIGNMENT, K not a multiple of 16, …; the error names the rule and the value);
 *   CompileError / LibraryNotFoundError / CudaError while building the kernel.
 */
export function planMGroupedFp8GemmNtContiguous(
  device: Device,
  shape: MGroupedContiguousShape,
  options: GroupedPlanOptions = {},
): MGroupedContiguousPlan {
  const s = parseContiguousShape(shape);
  const o = parseOrThrow(groupedPlanOptionsSchema, options, "options");
  const problem = contiguousProblem(s);
  const plan = new GemmPlan(device, problem, resolveConfig(problem, deviceLimits(device, o.maxSms), o.config), { maxSms: o.maxSms });
  return new MGroupedContiguousPlan(plan, s, debugChecksDefault(o.debugChecks));
}

/**
 * Validates a masked grouped shape once, chooses the configuration for `device` (tiles sized for
 * `expectedM` rows per group) and compiles or loads its kernel.
 * @throws InvalidArgumentError for a shape or option that breaks a rule; CompileError /
 *   LibraryNotFoundError / CudaError while building the kernel.
 */
export function planMGroupedFp8GemmNtMasked(device: Device, shape: MGroupedMaskedShape, options: GroupedPlanOptions = {}): MGroupedMaskedPlan {
  const s = parseMaskedShape(shape);
  const o = parseOrThrow(groupedPlanOptionsSchema, options, "options");
  const problem = maskedProblem(s);
  const plan = new GemmPlan(device, problem, resolveConfig(problem, deviceLimits(device, o.maxSms), o.config), { maxSms: o.maxSms });
  return new MGroupedMaskedPlan(plan, s, debugChecksDefault(o.debugChecks));
}

export interface GroupedCallOptions {
  stream?: Stream | undefined;
  /** See GroupedPlanOptions.debugChecks. */
  debugChecks?: boolean | undefined;
}

const contiguousPlans = new Map<string, MGroupedContiguousPlan>();
const maskedPlans = new Map<string, MGroupedMaskedPlan>();

/**
 * D[r] = A[r] · B[mIndices[r]]ᵀ for every real row r (see MGroupedContiguousArgs for the layouts);
 * padding rows of D are left untouched. Shapes come from the tensors; the plan for each distinct
 * shape is built on first use and kept. For hot loops prefer `planMGroupedFp8GemmNtContiguous`.
 *
 * @throws InvalidArgumentError / DisposedError before any launch when an operand breaks a rule
 *   (dtype, shape, M_total not a multiple of 128, K not a multiple of 16, mIndices not i32
 *   [M_total], stride, alignment, device); DeviceDataError from the debug checks.
 */
export function mGroupedFp8GemmNtContiguous(args: MGroupedContiguousArgs, options: GroupedCallOptions = {}): void {
  const s = contiguousShapeOf(args);
  const device = args.a.device;
  const key = `${device.ordinal}:${s.mTotal}:${s.n}:${s.k}:${s.numGroups}`;
  let plan = contiguousPlans.get(key);
  if (plan === undefined) {
    plan = planMGroupedFp8GemmNtContiguous(device, s);
    contiguousPlans.set(key, plan);
  }
  plan.run(args, options.stream, options.debugChecks ?? plan.debugChecks);
}

/**
 * D[g, r] = A[g, r] · B[g]ᵀ for r < maskedM[g] (see MGroupedMaskedArgs for the layouts); other
 * rows of D are left untouched. The host never reads maskedM (no synchronisation; capturable in
 * a CUDA graph once a call of the same shape on the same stream has built its plan: building one
 * allocates and loads a kernel, which a capture refuses). `expectedM` (default M_max) is the usual
 * rows per group, for the tile choice.
 *
 * @throws InvalidArgumentError / DisposedError before any launch when an operand breaks a rule
 *   (dtype, shape, K not a multiple of 16, maskedM not i32 [G], stride, alignment, device);
 *   DeviceDataError from the debug checks.
 */
export function mGroupedFp8GemmNtMasked(args: MGroupedMaskedArgs, options: GroupedCallOptions & { expectedM?: number } = {}): void {
  const s = maskedShapeOf(args, options.expectedM);
  const device = args.a.device;
  // One plan per stream: a plan's split-K workspace serves one launch at a time.
  const key = `${device.ordinal}:${s.mMax}:${s.n}:${s.k}:${s.numGroups}:${s.expectedM ?? s.mMax}:${options.stream?.handle ?? 0n}`;
  let plan = maskedPlans.get(key);
  if (plan === undefined) {
    plan = planMGroupedFp8GemmNtMasked(device, s);
    maskedPlans.set(key, plan);
  }
  plan.run(args, options.stream, options.debugChecks ?? plan.debugChecks);
}
