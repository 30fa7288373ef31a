/**
 * A GEMM plan: the problem validated once, its configuration chosen, its kernel loaded, its
 * argument block and launch shape built. `run` then checks the operands against the plan (integer
 * comparisons), re-encodes a tensor map only when a pointer moved, and launches: a warm call
 * allocates nothing and parses nothing.
 *
 * A plan that splits its last round of tiles (`config.splitLastRound`: masked by default) owns a
 * workspace for the partial sums (one FP32 tile and one counter per CTA, 8.5 MB for 128 x 128 tiles
 * on 132 SMs): the plan's own launches must not run concurrently (on one stream they are ordered);
 * make one plan per stream that runs at the same time. A launch captured into a CUDA graph uses a
 * workspace of that graph's own (replays of one graph are ordered), so replays may overlap the
 * plan's launches on other streams. `dispose()` frees the plan's workspace, not its graphs'.
 */
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import { getKernel } from "../jit/jit.ts";
import type { Device } from "../runtime/device.ts";
import { KernelArgs } from "../runtime/kernelArgs.ts";
import { launchKernel, type LaunchOptions } from "../runtime/launch.ts";
import { DeviceBuffer, memsetD8 } from "../runtime/memory.ts";
import type { KernelFunction } from "../runtime/module.ts";
import { checkStream, type Stream } from "../runtime/stream.ts";
import { allocateDuringCapture } from "../runtime/graph.ts";
import { encodeTensorMapTiled, type TensorMapSpec } from "../runtime/tensorMap.ts";
import { checkDisjoint, type Tensor } from "../tensor/tensor.ts";
import { alignedM } from "../quant/layout.ts";
import {
  BLOCK_K,
  numKBlocks,
  sharedMemoryBytes,
  splitWorkspaceBytes,
  threadsPerCta,
  type GemmProblem,
  type KernelConfig,
} from "./config.ts";
import { GEMM_KERNEL_PARAMS, gemmKernelName, gemmKernelSource } from "./kernelSource.ts";
import { usableSms } from "./resolveConfig.ts";
import { checkOperand, type OperandRule } from "./operands.ts";

/** The device tensors of one call. `groupedLayout` is mIndices (contiguous) or maskedM (masked). */
export interface GemmOperands {
  a: Tensor;
  sfa: Tensor;
  b: Tensor;
  sfb: Tensor;
  d: Tensor;
  c?: Tensor | undefined;
  groupedLayout?: Tensor | undefined;
}

/** How a plan is built besides its problem and configuration. */
export interface GemmPlanBuild {
  /** Test-only: the kernel variant without the promotion. */
  singleLevel?: boolean | undefined;
  /** At most this many SMs for the persistent grid (PlanOptions.maxSms); default all of the device's. */
  maxSms?: number | undefined;
}

type MapName = "tmap_a" | "tmap_b" | "tmap_sfa" | "tmap_d";
const ZERO_MAP = new Uint8Array(128);

/** The BF16 staging panel of the TMA-store epilogue: one swizzle span per row (cuda/bungemm/epilogue.cuh). */
function storePanelCols(blockN: number): 64 | 32 | 16 {
  return blockN % 64 === 0 ? 64 : blockN % 32 === 0 ? 32 : 16;
}

export class GemmPlan {
  readonly sharedBytes: number;
  /** Bytes each pipeline stage receives (the producer's expect-tx count). */
  readonly stageTxBytes: number;
  readonly kernelName: string;
  private readonly fn: KernelFunction;
  private readonly args = new KernelArgs(GEMM_KERNEL_PARAMS);
  private readonly launch: LaunchOptions;
  private readonly rules: Record<"a" | "sfa" | "b" | "sfb" | "d", OperandRule> & { c?: OperandRule; groupedLayout?: OperandRule };
  /** Each map's spec and the address and row stride it was last encoded for (re-encoded only when they move). */
  private readonly maps: Record<MapName, { spec: TensorMapSpec; lastAddress: bigint; lastRowStride: number }>;
  /** The split-K partial sums and tile counters (counters zero between launches), when the config splits. */
  private readonly splitWorkspace: DeviceBuffer | undefined;
  /** The argument block holds a graph's own workspace (the last launch was captured), not the plan's. */
  private workspaceArgIsGraphs = false;
  private disposed = false;

  /**
   * @param build.singleLevel test-only kernel variant without the promotion (see kernelSource.ts).
   * @param build.maxSms the SMs the grid may occupy (PlanOptions.maxSms); default all of the device's.
   * @throws InvalidArgumentError for a maxSms outside 1..the device's SM count or below the cluster size
   *   (the plan functions refuse the latter earlier, as `config`, through resolveConfig; this check
   *   guards a configuration built by hand); CompileError, CudaError, LibraryNotFoundError while
   *   building the kernel.
   */
  constructor(
    readonly device: Device,
    readonly problem: Readonly<GemmProblem>,
    readonly config: Readonly<KernelConfig>,
    build: GemmPlanBuild = {},
  ) {
    const singleLevel = build.singleLevel ?? false;
    const clusterSize = config.clusterM * config.clusterN;
    // Checked before anything is compiled or allocated.
    const maxCtas = Math.floor(usableSms(device, build.maxSms) / clusterSize) * clusterSize;
    if (maxCtas === 0) throw new InvalidArgumentError("options.maxSms", `must allow one cluster of ${clusterSize} CTAs`, build.maxSms);
    const p = problem;
    const g = p.numGroups;
    const kb = numKBlocks(p.k), nb = Math.ceil(p.n / 128);
    const masked = p.gemmType === "masked", grouped = p.gemmType !== "dense";
    const rowsA = masked ? g * p.m : p.m; // rows of the 2-D views of A and D
    const e4m3 = { dtype: "e4m3", align: 16 } as const;
    this.rules = {
      a: { ...e4m3, shape: masked ? [g, p.m, p.k] : [p.m, p.k], layout: masked ? "contiguous" : "rows16" },
      b: { ...e4m3, shape: grouped ? [g, p.n, p.k] : [p.n, p.k], layout: grouped ? "contiguous" : "rows16" },
      sfa: { dtype: "f32", align: 16, layout: "contiguous", shape: masked ? [g, kb, alignedM(p.m)] : [kb, alignedM(p.m)] },
      sfb: { dtype: "f32", align: 4, layout: "contiguous", shape: grouped ? [g, nb, kb] : [nb, kb] },
      d: { dtype: p.outDtype, align: 16, layout: "contiguous", shape: masked ? [g, p.m, p.n] : [p.m, p.n] },
    };
    if (p.accumulate) this.rules.c = { dtype: "f32", align: 16, layout: "contiguous", shape: this.rules.d.shape };
    if (grouped) this.rules.groupedLayout = { dtype: "i32", align: 4, layout: "contiguous", shape: [masked ? g : p.m] };

    const cfg = config;
    this.sharedBytes = sharedMemoryBytes(cfg, p);
    this.kernelName = gemmKernelName(p, cfg, singleLevel);
    this.fn = getKernel(device, { name: this.kernelName, source: gemmKernelSource(p, cfg, this.sharedBytes, singleLevel) });
    this.fn.setMaxDynamicSharedBytes(this.sharedBytes);

    // Boxes: full tiles, except that a dense problem whose M fits in one m-block loads only the rows
    // that exist (8-row swizzle atoms of A, 4-float TMA granules of its scales): TMA fills
    // out-of-bounds rows slowly, and the kernel never stores rows past M (see kStageTxBytes).
    const shrink = p.gemmType === "dense" && p.m > 0 && p.m < cfg.blockM && cfg.clusterN === 1;
    const aBoxRows = shrink ? Math.max(8, Math.ceil(p.m / 8) * 8) : cfg.blockM / cfg.clusterN;
    const sfaBoxRows = shrink ? Math.max(4, Math.ceil(p.m / 4) * 4) : cfg.blockM;
    this.stageTxBytes = aBoxRows * cfg.clusterN * BLOCK_K + cfg.blockN * BLOCK_K + sfaBoxRows * 4;

    const panel = storePanelCols(cfg.blockN);
    const swizzleOfPanel = ({ 64: "128B", 32: "64B", 16: "32B" } as const)[panel];
    this.maps = {
      tmap_a: { lastAddress: -1n, lastRowStride: -1, spec: { dtype: "e4m3", globalAddress: 0n, globalDims: [p.k, rowsA], globalStridesBytes: [p.k], boxDims: [BLOCK_K, aBoxRows], swizzle: "128B" } },
      tmap_b: { lastAddress: -1n, lastRowStride: -1, spec: { dtype: "e4m3", globalAddress: 0n, globalDims: [p.k, g * p.n], globalStridesBytes: [p.k], boxDims: [BLOCK_K, cfg.blockN / cfg.clusterM], swizzle: "128B" } },
      tmap_sfa: { lastAddress: -1n, lastRowStride: -1, spec: { dtype: "f32", globalAddress: 0n, globalDims: [Math.max(p.m, 1), (masked ? g : 1) * kb], globalStridesBytes: [alignedM(p.m) * 4], boxDims: [sfaBoxRows, 1], swizzle: "none", l2Promotion: "none" } },
      tmap_d: { lastAddress: -1n, lastRowStride: -1, spec: { dtype: "bf16", globalAddress: 0n, globalDims: [p.n, rowsA], globalStridesBytes: [p.n * 2], boxDims: [panel, 64], swizzle: swizzleOfPanel, l2Promotion: "none" } },
    };
    if (!cfg.tmaStore) this.args.set("tmap_d", ZERO_MAP);

    const nUnits = Math.ceil(Math.ceil(p.n / cfg.blockN) / cfg.clusterN);
    const mUnits = Math.ceil(Math.ceil(p.m / cfg.blockM) / cfg.clusterM);
    const units = (masked ? g : 1) * mUnits * nUnits;
    this.launch = {
      grid: [Math.max(clusterSize, Math.min(maxCtas, units * clusterSize)), 1, 1],
      block: [threadsPerCta(cfg), 1, 1],
      sharedBytes: this.sharedBytes,
      cluster: clusterSize > 1 ? [clusterSize, 1, 1] : undefined,
    };
    this.args.set("m", p.m);
    this.args.set("stage_tx_bytes", this.stageTxBytes);
    if (cfg.splitLastRound) {
      this.splitWorkspace = DeviceBuffer.alloc(device, splitWorkspaceBytes(cfg, this.launch.grid[0]));
      memsetD8(this.splitWorkspace, 0);
      // Done before any launch: the memset runs on the legacy stream, which a non-blocking stream does not wait for.
      device.synchronize();
    }
    // The plan's own for every launch outside a capture (`run` refuses a disposed plan before it
    // could reach the kernel); a captured launch puts its graph's in its place (graphWorkspace).
    this.args.set("split_workspace", this.splitWorkspace?.ptr ?? 0n);
  }

  /** Frees the split-K workspace (if any); `run` then throws DisposedError. Idempotent. */
  dispose(): void {
    this.disposed = true;
    this.splitWorkspace?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The grid this plan launches (CTAs along x). */
  get gridSize(): number {
    return this.launch.grid[0];
  }

  /**
   * Checks the operands against the plan and queues the kernel on `stream` (the legacy default
   * stream when omitted). Returns without launching when there is nothing to compute (M = 0).
   * @throws InvalidArgumentError / DisposedError for an operand that breaks a rule or a disposed plan;
   *   nothing is launched then.
   */
  run(ops: GemmOperands, stream?: Stream): void {
    if (this.disposed) throw new DisposedError(`GemmPlan ${this.kernelName}`);
    const r = this.rules;
    checkOperand("a", ops.a, r.a, this.device);
    checkOperand("sfa", ops.sfa, r.sfa, this.device);
    checkOperand("b", ops.b, r.b, this.device);
    checkOperand("sfb", ops.sfb, r.sfb, this.device);
    checkOperand("d", ops.d, r.d, this.device);
    if (r.c !== undefined) checkOperand("c", ops.c, r.c, this.device);
    else if (ops.c !== undefined) throw new InvalidArgumentError("c", "is only accepted by a plan made with accumulate: true", "a tensor");
    if (r.groupedLayout !== undefined) checkOperand("groupedLayout", ops.groupedLayout, r.groupedLayout, this.device);
    checkStream("stream", stream, this.device);
    if (this.problem.m === 0) return;
    checkOutputAlone(ops);

    // Dense A and B may be strided views (row stride ≥ K): their stride is part of the map.
    this.refreshMap("tmap_a", ops.a, mapRowStride(ops.a, r.a, this.problem.k));
    this.refreshMap("tmap_b", ops.b, mapRowStride(ops.b, r.b, this.problem.k));
    this.refreshMap("tmap_sfa", ops.sfa, -1);
    if (this.config.tmaStore) this.refreshMap("tmap_d", ops.d, -1);
    this.args.set("sfb", ops.sfb.ptr);
    this.args.set("d", ops.d.ptr);
    this.args.set("c", ops.c !== undefined ? ops.c.ptr : 0n);
    this.args.set("grouped_layout", ops.groupedLayout !== undefined ? ops.groupedLayout.ptr : 0n);
    this.device.activate();
    this.launch.stream = stream;
    if (stream?.capturing) {
      launchKernel(this.fn, this.launch, this.args, [ops.a, ops.sfa, ops.b, ops.sfb, ops.d, ops.c, ops.groupedLayout, this.graphWorkspace(stream)]);
      return;
    }
    if (this.workspaceArgIsGraphs) {
      this.args.set("split_workspace", this.splitWorkspace?.ptr ?? 0n);
      this.workspaceArgIsGraphs = false;
    }
    launchKernel(this.fn, this.launch, this.args);
  }

  /**
   * A captured launch's split workspace: one of the graph's own, so that its replays never share
   * memory with this plan's launches on another stream or with another graph's replays (the
   * partial sums and counters of concurrent launches would mix). Undefined when the plan has none.
   */
  private graphWorkspace(stream: Stream): DeviceBuffer | undefined {
    const own = this.splitWorkspace;
    if (own === undefined) return undefined;
    const workspace = stream.scratchForCapture(this, () => allocateDuringCapture(this.device, own.bytes));
    this.args.set("split_workspace", workspace.ptr);
    this.workspaceArgIsGraphs = true;
    return workspace;
  }

  /**
   * Re-encodes map `name` only when the tensor's address or (for A and B) row stride differs from
   * the last launch: a warm call with the same buffers encodes nothing. `rowStride` -1: fixed stride.
   */
  private refreshMap(name: MapName, t: Tensor, rowStride: number): void {
    const entry = this.maps[name];
    const address = t.ptr;
    if (address === entry.lastAddress && rowStride === entry.lastRowStride) return;
    // Forgotten first, so that a refused encoding leaves the map to be encoded again by the next call.
    entry.lastAddress = -1n;
    entry.spec.globalAddress = address;
    if (rowStride !== -1) entry.spec.globalStridesBytes = [rowStride];
    const slot = this.args.tensorMapSlot(name);
    encodeTensorMapTiled(entry.spec, slot);
    this.args.set(name, slot);
    entry.lastAddress = address;
    entry.lastRowStride = rowStride;
  }
}

/**
 * The row stride (elements = bytes for e4m3) a map of operand `t` is encoded with. Only a strided
 * ("rows16") operand of more than one row brings its own; otherwise rows are K apart. The stride of
 * an extent-1 dimension is never followed by the tensor's own indexing, so it may hold anything and
 * must not reach a map: a masked A of one row per group would otherwise send TMA that far past its buffer.
 */
function mapRowStride(t: Tensor, rule: OperandRule, k: number): number {
  const rank = t.shape.length;
  if (rule.layout === "contiguous" || t.shape[rank - 2] === 1) return k;
  return t.strides[rank - 2] ?? k;
}

/**
 * D must not share memory with any input. The one exception is C itself as D (the same address:
 * both are contiguous and of one shape, so every element is read and written by the same thread).
 */
function checkOutputAlone(ops: GemmOperands): void {
  const d = ops.d;
  checkDisjoint("d", d, "a", ops.a);
  checkDisjoint("d", d, "b", ops.b);
  checkDisjoint("d", d, "sfa", ops.sfa);
  checkDisjoint("d", d, "sfb", ops.sfb);
  checkDisjoint("d", d, "groupedLayout", ops.groupedLayout);
  if (ops.c !== undefined && ops.c.ptr !== d.ptr) checkDisjoint("d", d, "c (other than as d itself)", ops.c);
}
