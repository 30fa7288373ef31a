/**
 * M-grouped FP8 GEMMs (contiguous and masked) on the GPU against an f64 reference computed from the
 * same FP8 codes and scales, per group. Fresh random data every run; D is poisoned (bf16 0xFFFF)
 * before each launch, and after it every real row must be fully written and every other row
 * (padding rows; masked rows at or past maskedM[g]) still fully poisoned. Also: the GPU mIndices
 * builder against its CPU twin, the debug checks, and a masked call captured in a CUDA graph and
 * replayed with new counts. Skips, saying why, where there is no CUDA device.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { DeviceDataError, DisposedError, InvalidArgumentError } from "../../src/errors.ts";
import {
  buildMIndices,
  contiguousLayout,
  planBuildMIndices,
  mGroupedFp8GemmNtContiguous,
  mGroupedFp8GemmNtMasked,
  planMGroupedFp8GemmNtContiguous,
  planMGroupedFp8GemmNtMasked,
  type KernelConfig,
  type MGroupedMaskedPlan,
} from "../../src/gemm/index.ts";
import { alignedM, numBlocks, scalesToTmaAligned } from "../../src/quant/layout.ts";
import { Device } from "../../src/runtime/device.ts";
import { CudaGraph } from "../../src/runtime/graph.ts";
import { copyDeviceToDevice, copyHostToDevice, memsetD8 } from "../../src/runtime/memory.ts";
import { Stream } from "../../src/runtime/stream.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { BF16_TOLERANCE, randomFp8Codes, randomScales } from "../support/gemmCheck.ts";
import { BF16_POISON, groupedRelError, randomWeights, rowsBreakingPoisonRule, type GroupedWeights, type GroupRows } from "../support/groupedCheck.ts";
import { decodeBf16Array } from "../../src/tensor/bf16.ts";
import { relativeFrobeniusError } from "../../src/quant/referenceGemm.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("grouped GEMM GPU tests");

/** DESIGN §7. */
const CONTIGUOUS_SHAPES: [g: number, mPerGroup: number, n: number, k: number][] = [
  [4, 8192, 4096, 7168],
  [4, 8192, 7168, 2048],
  [8, 4096, 4096, 7168],
  [8, 4096, 7168, 2048],
];
const MASKED_GROUPS: [g: number, expectedM: number][] = [[1, 1024], [2, 512], [4, 256]];
const MASKED_NK: [n: number, k: number][] = [[4096, 7168], [7168, 2048]];

type ConfigOverride = Partial<Omit<KernelConfig, "tmaStore">>;

interface Outcome {
  relError: number;
  points: number;
  /** Rows that break the written / still-poisoned rule (first few). */
  badRows: number[];
  config: Readonly<KernelConfig> | undefined;
  /** The host copy of D (contiguous runs). */
  d?: Uint16Array;
}

function report(name: string, r: Outcome): void {
  console.log(`  ${name}: relError=${r.relError.toExponential(2)} over ${r.points} points, config=${JSON.stringify(r.config)}`);
}

/**
 * ‖x − y‖ / ‖y‖ of two BF16 outputs over the elements both wrote; Infinity when they wrote
 * different elements (one holds the poison where the other does not).
 */
function bf16RelDifference(x: Uint16Array, y: Uint16Array): number {
  if (x.length !== y.length) return Infinity;
  const written: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if ((x[i] === BF16_POISON) !== (y[i] === BF16_POISON)) return Infinity;
    if (x[i] !== BF16_POISON) written.push(i);
  }
  const xs = decodeBf16Array(x), ys = decodeBf16Array(y);
  return relativeFrobeniusError(written.map((i) => xs[i]!), written.map((i) => ys[i]!));
}

function expectGood(r: Outcome): void {
  expect(r.badRows).toEqual([]);
  expect(r.relError).toBeLessThanOrEqual(BF16_TOLERANCE);
}

/** Real rows of a contiguous layout, per group. */
function contiguousGroups(counts: readonly number[], starts: readonly number[]): GroupRows[] {
  return counts.map((count, group) => ({ group, first: starts[group]!, count }));
}

interface ContiguousOptions {
  config?: ConfigOverride;
  /** mIndices to use instead of the layout's (e.g. all padding). */
  mIndices?: Int32Array;
  /** Build mIndices on the GPU from device-side counts (and compare with the CPU layout). */
  buildOnDevice?: boolean;
  /** Changes the random weights before upload (e.g. a NaN code); `skipGroups` leaves the reference out for those experts. */
  editWeights?: (w: GroupedWeights) => void;
  skipGroups?: readonly number[];
}

function runContiguous(device: Device, counts: number[], n: number, k: number, o: ContiguousOptions = {}): Outcome {
  const G = counts.length, kBlocks = numBlocks(k);
  const layout = contiguousLayout(counts);
  const mTotal = layout.mTotal;
  const mIndices = o.mIndices ?? layout.mIndices;
  // Padding rows get random data too: a kernel that used them would show in the error.
  const a = randomFp8Codes(mTotal * k);
  const sfaLogical = randomScales(mTotal * kBlocks);
  const w = randomWeights(G, n, k);
  o.editWeights?.(w);
  const plan = planMGroupedFp8GemmNtContiguous(device, { mTotal, n, k, numGroups: G }, { config: o.config, debugChecks: false });
  using aT = Tensor.fromHost(device, a, [mTotal, k], "e4m3");
  using sfaT = Tensor.fromHost(device, scalesToTmaAligned(sfaLogical, mTotal, kBlocks), [kBlocks, alignedM(mTotal)], "f32");
  using bT = Tensor.fromHost(device, w.b, [G, n, k], "e4m3");
  using sfbT = Tensor.fromHost(device, w.sfb, [G, numBlocks(n), kBlocks], "f32");
  using dT = Tensor.empty(device, [mTotal, n], "bf16");
  using mIndicesT = o.buildOnDevice ? Tensor.empty(device, [mTotal], "i32") : Tensor.fromHost(device, mIndices, [mTotal], "i32");
  if (o.buildOnDevice) {
    using countsT = Tensor.fromHost(device, Int32Array.from(counts), [G], "i32");
    buildMIndices({ counts: countsT, mIndices: mIndicesT });
    expect(mIndicesT.toHost()).toEqual(mIndices);
  }
  memsetD8(dT, 0xff);
  plan.run({ a: aT, sfa: sfaT, b: bT, sfb: sfbT, d: dT, mIndices: mIndicesT });
  const d = dT.toHost() as Uint16Array;
  // Real rows are those the mIndices used says are real (an override may say none are).
  const groups = contiguousGroups(counts, layout.segmentStarts)
    .map((g) => (o.mIndices ? { ...g, count: mIndices[g.first] === g.group ? g.count : 0 } : g))
    .filter((g) => !(o.skipGroups ?? []).includes(g.group));
  return {
    ...groupedRelError(groups, a, sfaLogical, w, d, n, k),
    badRows: rowsBreakingPoisonRule(d, n, (row) => mIndices[row]! >= 0),
    config: plan.config,
    d,
  };
}

interface MaskedInputs extends Disposable {
  G: number;
  mMax: number;
  n: number;
  k: number;
  a: Uint8Array;
  sfaLogical: Float32Array;
  w: GroupedWeights;
  tensors: { a: Tensor; sfa: Tensor; b: Tensor; sfb: Tensor; d: Tensor; maskedM: Tensor };
}

function maskedInputs(device: Device, G: number, mMax: number, n: number, k: number): MaskedInputs {
  const kBlocks = numBlocks(k);
  const a = randomFp8Codes(G * mMax * k);
  const sfaLogical = randomScales(G * mMax * kBlocks);
  const w = randomWeights(G, n, k);
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  const tensors = {
    a: keep(Tensor.fromHost(device, a, [G, mMax, k], "e4m3")),
    sfa: keep(Tensor.fromHost(device, scalesToTmaAligned(sfaLogical, mMax, kBlocks, G), [G, kBlocks, alignedM(mMax)], "f32")),
    b: keep(Tensor.fromHost(device, w.b, [G, n, k], "e4m3")),
    sfb: keep(Tensor.fromHost(device, w.sfb, [G, numBlocks(n), kBlocks], "f32")),
    d: keep(Tensor.empty(device, [G, mMax, n], "bf16")),
    maskedM: keep(Tensor.empty(device, [G], "i32")),
  };
  return { G, mMax, n, k, a, sfaLogical, w, tensors, [Symbol.dispose]: () => made.forEach((t) => t.dispose()) };
}

/** Checks D (host copy) against the reference for the rows `maskedM` (clamped into [0, M_max]) makes real. */
function checkMasked(inputs: MaskedInputs, maskedM: readonly number[], d: Uint16Array, config?: Readonly<KernelConfig>): Outcome {
  const { mMax, n, k } = inputs;
  const real = maskedM.map((v) => Math.max(0, Math.min(mMax, v)));
  const groups = real.map((count, group) => ({ group, first: group * mMax, count }));
  return {
    ...groupedRelError(groups, inputs.a, inputs.sfaLogical, inputs.w, d, n, k),
    badRows: rowsBreakingPoisonRule(d, n, (row) => row % mMax < real[Math.floor(row / mMax)]!),
    config,
  };
}

function runMasked(device: Device, inputs: MaskedInputs, maskedM: number[], plan: MGroupedMaskedPlan): Outcome {
  const t = inputs.tensors;
  copyHostToDevice(t.maskedM, Int32Array.from(maskedM));
  memsetD8(t.d, 0xff);
  plan.run(t, undefined, false);
  return checkMasked(inputs, maskedM, t.d.toHost() as Uint16Array, plan.config);
}

/** Per-group counts uniform in [0.7, 1.3] × expectedM, within [0, mMax]. */
function randomCounts(G: number, expectedM: number, mMax: number): number[] {
  return Array.from({ length: G }, () => Math.min(mMax, Math.round(expectedM * (0.7 + 0.6 * Math.random()))));
}

describe.skipIf(!gpu.ok)("grouped GEMMs on the GPU", () => {
  const device = gpu.ok ? Device.get(0) : (undefined as unknown as Device);

  describe("contiguous", () => {
    for (const [G, mPerGroup, n, k] of CONTIGUOUS_SHAPES) {
      test(`DESIGN §7 G=${G} M/group=${mPerGroup} N=${n} K=${k}`, () => {
        const r = runContiguous(device, new Array<number>(G).fill(mPerGroup), n, k);
        report(`contiguous ${G}x${mPerGroup}x${n}x${k}`, r);
        expectGood(r);
      }, 300_000);
    }

    test("DESIGN §7 (N, K) = (4096, 7168) with uneven loads around 4096 per expert", () => {
      const counts = Array.from({ length: 8 }, () => Math.round(4096 * (0.5 + Math.random())));
      const r = runContiguous(device, counts, 4096, 7168);
      report(`uneven ${counts.join(",")}`, r);
      expectGood(r);
    }, 300_000);

    const edges: [string, number[], number, number, ContiguousOptions?][] = [
      ["an empty group, a 1-row group, a 130-row group, a full segment", [0, 1, 130, 128], 512, 1024],
      ["uneven random loads, 8 experts", Array.from({ length: 8 }, () => Math.floor(Math.random() * 400)), 768, 512],
      ["every group empty but the last", [0, 0, 0, 5], 384, 256],
      ["N not a multiple of 128, K with a tail k-block", [3, 200, 77], 1000, 272],
      ["BLOCK_M = 64: half-tiles of pure padding", [1, 65, 64, 129], 512, 512, { config: { blockM: 64, clusterM: 1, clusterN: 1 } }],
      ["2-CTA cluster sharing A", [70, 300, 1], 1024, 512, { config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 2 } }],
      // 256-row tiles: [0, 256) and [768, 1024) hold two experts (one pass per wave), [1024, 1280)
      // ends past M, and padding rows sit in several tiles.
      ["BLOCK_M = 256: tiles whose waves belong to two experts (B scales from the scale warp)", [100, 300, 129, 7, 256], 512, 512, { config: { blockM: 256, blockN: 128, clusterM: 1, clusterN: 1 } }],
      ["BLOCK_M = 256 sharing A across a 2-CTA cluster, issue order alternating (B scales staged by the math threads)", [100, 300, 129, 7, 256], 1024, 2048, { config: { blockM: 256, blockN: 128, clusterM: 1, clusterN: 2, orderedMath: true } }],
      ["mIndices built on the GPU", Array.from({ length: 16 }, () => Math.floor(Math.random() * 300)), 512, 1024, { buildOnDevice: true }],
    ];
    for (const [name, counts, n, k, o] of edges) {
      test(`edge: ${name} (counts ${counts.join(",")}, N=${n} K=${k})`, () => {
        const r = runContiguous(device, counts, n, k, o);
        report(name, r);
        expectGood(r);
      }, 60_000);
    }

    // Expert 0's weights run over expert 1's first rows and expert 4's over expert 3's rows wherever a
    // 256-row tile holds both (segments are 128-row aligned). With padding rows those tiles take the
    // plain store; with none, the TMA store. At K = 512 wave 0 is staged as BF16 after the first pass;
    // at K = 2048 (8 to 32 k-blocks) the first pass's last k-block has staged it already.
    const nonFiniteCases: [string, number[], number][] = [
      ["padding rows in the shared tiles", [100, 300, 129, 7, 256], 512],
      ["no padding rows", [128, 256, 128, 128, 256], 512],
      ["padding rows in the shared tiles", [100, 300, 129, 7, 256], 2048],
      ["no padding rows", [128, 256, 128, 128, 256], 2048],
    ];
    for (const [name, counts, k] of nonFiniteCases) {
      test(`edge: a NaN weight of expert 0 and an infinite B scale of expert 4 stay in their own rows (${name}, K=${k})`, () => {
        const n = 512, kBlocks = numBlocks(k);
        const nanColumn = 5, infBlockN = 1;
        const editWeights = (w: GroupedWeights): void => {
          w.b[nanColumn * k + 3] = 0x7f; // expert 0, row 5 of B, k = 3: e4m3 NaN
          w.sfb[(4 * numBlocks(n) + infBlockN) * kBlocks] = Infinity; // expert 4, columns 128-255, k-block 0
        };
        const config: ConfigOverride = { blockM: 256, blockN: 128, clusterM: 1, clusterN: 1 };
        const r = runContiguous(device, counts, n, k, { config, editWeights, skipGroups: [0, 4] });
        report(`non-finite weights of experts 0 and 4, ${name}, K=${k}`, r);
        expectGood(r);
        const { segmentStarts } = contiguousLayout(counts);
        const values = decodeBf16Array(r.d!);
        const rowValues = (row: number, cols: readonly number[]): number[] => cols.map((c) => values[row * n + c]!);
        const blockCols = Array.from({ length: 128 }, (_, i) => infBlockN * 128 + i);
        // The bad values reached their own expert's rows (so there was something to leak) ...
        expect(Number.isNaN(values[segmentStarts[0]! * n + nanColumn]!)).toBe(true);
        expect(rowValues(segmentStarts[4]!, blockCols).some((v) => !Number.isFinite(v))).toBe(true);
        // ... and no row of the neighbouring experts holds a non-finite value there.
        for (const [group, cols] of [[1, [nanColumn]], [3, blockCols]] as const) {
          for (let row = segmentStarts[group]!; row < segmentStarts[group]! + counts[group]!; row++) {
            expect({ row, finite: rowValues(row, cols).every(Number.isFinite) }).toEqual({ row, finite: true });
          }
        }
      }, 60_000);
    }

    test("edge: all rows padding: nothing is written", () => {
      const r = runContiguous(device, [100, 50], 256, 512, { mIndices: new Int32Array(256).fill(-1) });
      expect(r.badRows).toEqual([]);
      expect(r.points).toBe(0);
    });

    test("edge: M_total = 0 launches nothing and does not throw", () => {
      const plan = planMGroupedFp8GemmNtContiguous(device, { mTotal: 0, n: 256, k: 256, numGroups: 2 });
      using a = Tensor.empty(device, [0, 256], "e4m3");
      using sfa = Tensor.empty(device, [2, 0], "f32");
      using b = Tensor.empty(device, [2, 256, 256], "e4m3");
      using sfb = Tensor.empty(device, [2, 2, 2], "f32");
      using d = Tensor.empty(device, [0, 256], "bf16");
      using mIndices = Tensor.empty(device, [0], "i32");
      expect(() => plan.run({ a, sfa, b, sfb, d, mIndices })).not.toThrow();
    });

    test("the convenience call: shapes from tensors; wrong mIndices refused; debug checks catch bad ids", () => {
      const counts = [5, 130];
      const { mTotal, mIndices, segmentStarts } = contiguousLayout(counts);
      const n = 256, k = 256, kBlocks = numBlocks(k);
      const aCodes = randomFp8Codes(mTotal * k), sfaLogical = randomScales(mTotal * kBlocks), w = randomWeights(2, n, k);
      using a = Tensor.fromHost(device, aCodes, [mTotal, k], "e4m3");
      using sfa = Tensor.fromHost(device, scalesToTmaAligned(sfaLogical, mTotal, kBlocks), [kBlocks, alignedM(mTotal)], "f32");
      using b = Tensor.fromHost(device, w.b, [2, n, k], "e4m3");
      using sfb = Tensor.fromHost(device, w.sfb, [2, 2, kBlocks], "f32");
      using d = Tensor.empty(device, [mTotal, n], "bf16");
      using good = Tensor.fromHost(device, mIndices, [mTotal], "i32");
      using wrongDtype = Tensor.fromHost(device, new Float32Array(mTotal), [mTotal], "f32");
      using short = Tensor.fromHost(device, mIndices.subarray(0, 128), [128], "i32");
      memsetD8(d, 0xff);
      mGroupedFp8GemmNtContiguous({ a, sfa, b, sfb, d, mIndices: good });
      // The convenience call computes what the plan does: every real row written and right, padding untouched.
      const out = d.toHost() as Uint16Array;
      expect(rowsBreakingPoisonRule(out, n, (row) => mIndices[row]! >= 0)).toEqual([]);
      expect(groupedRelError(contiguousGroups(counts, segmentStarts), aCodes, sfaLogical, w, out, n, k).relError).toBeLessThanOrEqual(BF16_TOLERANCE);
      expect(() => mGroupedFp8GemmNtContiguous({ a, sfa, b, sfb, d, mIndices: wrongDtype })).toThrow(/mIndices.dtype/);
      expect(() => mGroupedFp8GemmNtContiguous({ a, sfa, b, sfb, d, mIndices: short })).toThrow(InvalidArgumentError);
      const bad = Int32Array.from(mIndices);
      bad[200] = 7; // a group id outside [-1, 2)
      using badT = Tensor.fromHost(device, bad, [mTotal], "i32");
      memsetD8(d, 0xff);
      expect(() => mGroupedFp8GemmNtContiguous({ a, sfa, b, sfb, d, mIndices: badT }, { debugChecks: true })).toThrow(DeviceDataError);
      // Refused before the launch: D is untouched.
      expect((d.toHost() as Uint16Array).every((v) => v === 0xffff)).toBe(true);
      // Without the checks the kernel skips the bad tile instead of faulting.
      expect(() => mGroupedFp8GemmNtContiguous({ a, sfa, b, sfb, d, mIndices: badT }, { debugChecks: false })).not.toThrow();
      device.synchronize();
    });
  });

  describe("GPU mIndices builder", () => {
    test("matches contiguousLayout; rows past the total are -1; a layout that does not fit is cut", () => {
      for (const [counts, capacity] of [
        [[0, 1, 130, 128], 768],
        [Array.from({ length: 1024 }, () => Math.floor(Math.random() * 40)), 1024 * 128],
        [[300, 300], 256],
        [[-4, 3], 128],
      ] as [number[], number][]) {
        const G = counts.length;
        const cpu = contiguousLayout(counts.map((c) => Math.max(0, c)));
        using countsT = Tensor.fromHost(device, Int32Array.from(counts), [G], "i32");
        using mIndicesT = Tensor.empty(device, [capacity], "i32");
        using startsT = Tensor.empty(device, [G + 1], "i32");
        buildMIndices({ counts: countsT, mIndices: mIndicesT, segmentStarts: startsT });
        const expected = new Int32Array(capacity).fill(-1);
        expected.set(cpu.mIndices.subarray(0, capacity));
        expect(mIndicesT.toHost()).toEqual(expected);
        expect([...(startsT.toHost() as Int32Array)]).toEqual(cpu.segmentStarts);
      }
    });

    test("the plan form: reused on a stream with new counts; tensors of the wrong shape refused before the launch", () => {
      const G = 6, capacity = 2048;
      const plan = planBuildMIndices(device, { numGroups: G, mTotal: capacity });
      using stream = Stream.create(device);
      using countsT = Tensor.empty(device, [G], "i32");
      using mIndicesT = Tensor.empty(device, [capacity], "i32");
      for (let draw = 0; draw < 2; draw++) {
        const counts = Array.from({ length: G }, () => Math.floor(Math.random() * 300));
        copyHostToDevice(countsT, Int32Array.from(counts));
        memsetD8(mIndicesT, 0x5a);
        plan.run({ counts: countsT, mIndices: mIndicesT }, stream);
        stream.synchronize();
        const expected = new Int32Array(capacity).fill(-1);
        expected.set(contiguousLayout(counts).mIndices.subarray(0, capacity));
        expect(mIndicesT.toHost()).toEqual(expected);
      }
      using tooManyCounts = Tensor.empty(device, [G + 1], "i32");
      using shortIndices = Tensor.empty(device, [capacity - 128], "i32");
      memsetD8(mIndicesT, 0x5a);
      expect(() => plan.run({ counts: tooManyCounts, mIndices: mIndicesT }, stream)).toThrow(InvalidArgumentError);
      expect(() => plan.run({ counts: countsT, mIndices: shortIndices }, stream)).toThrow(InvalidArgumentError);
      stream.synchronize();
      expect((mIndicesT.toHost() as Int32Array).every((v) => v === 0x5a5a5a5a)).toBe(true);
    });
  });

  describe("masked", () => {
    for (const [n, k] of MASKED_NK) {
      for (const [G, expectedM] of MASKED_GROUPS) {
        test(`DESIGN §7 G=${G} expectedM=${expectedM} N=${n} K=${k}`, () => {
          const mMax = 2 * expectedM;
          using inputs = maskedInputs(device, G, mMax, n, k);
          const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM });
          const r = runMasked(device, inputs, randomCounts(G, expectedM, mMax), plan);
          report(`masked G=${G} expectedM=${expectedM} N=${n} K=${k}`, r);
          expectGood(r);
        }, 120_000);
      }
    }

    test("edges: maskedM all zero, 0 / 1 / M_max / partial, values outside [0, M_max] clamped", () => {
      const G = 4, mMax = 130, n = 384, k = 512;
      using inputs = maskedInputs(device, G, mMax, n, k);
      const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM: 64 });
      for (const maskedM of [[0, 0, 0, 0], [0, 1, mMax, 77], [mMax, mMax, mMax, mMax], [-5, mMax + 10, 3, 2 ** 31 - 1]]) {
        const r = runMasked(device, inputs, maskedM, plan);
        report(`maskedM ${maskedM.join(",")}`, r);
        expectGood(r);
      }
    });

    test("partial tiles: real rows ending anywhere in either warpgroup, N cut inside a tile", () => {
      // Per group, the real rows end at 8, 13, 64 (the first warpgroup's last row), 71, 120, 127, 135
      // (in the next m-block) and 3; rows past them must stay unwritten. N = 320 leaves the last tile's
      // second 64-column panel outside D.
      // K = 2048: the B scales are staged by the math warps (fetched ahead on pipelined tiles).
      const G = 8, mMax = 136, n = 320, k = 2048;
      const counts = [8, 13, 64, 71, 120, 127, 135, 3];
      using inputs = maskedInputs(device, G, mMax, n, k);
      const tiles: ConfigOverride[] = [
        {},
        { blockM: 128, blockN: 128 },
        { blockM: 128, blockN: 128, pipelinedPromotion: false, splitLastRound: false },
        { blockM: 256, blockN: 128 },
      ];
      for (const config of tiles) {
        const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM: 96 }, { config });
        const r = runMasked(device, inputs, counts, plan);
        report(`partial tiles, config ${JSON.stringify(config)}`, r);
        expectGood(r);
      }
    });

    test("maxSms = 33: the split last round on a smaller grid (each case's tiles leave a different remainder)", () => {
      const G = 2, mMax = 512, n = 1024, k = 7168;
      using inputs = maskedInputs(device, G, mMax, n, k);
      const config: ConfigOverride = { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1 };
      using plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM: mMax }, { maxSms: 33, config });
      expect(plan.plan.gridSize).toBe(33);
      expect(plan.config.splitLastRound).toBe(true);
      // 8 n-blocks of 128 on 33 CTAs: 40 tiles leave 7 (4 parts), 16 are all left over (2 parts), 64 leave 31 (not split).
      for (const maskedM of [[512, 128], [128, 100], [512, 512]]) {
        const r = runMasked(device, inputs, maskedM, plan);
        report(`maxSms 33, maskedM ${maskedM.join(",")}`, r);
        expectGood(r);
      }
    });

    test("BLOCK_M = 64 and a 2-CTA cluster sharing B", () => {
      const G = 3, mMax = 300, n = 512, k = 1024;
      using inputs = maskedInputs(device, G, mMax, n, k);
      for (const config of [{ blockM: 64, clusterM: 1, clusterN: 1 }, { blockM: 128, blockN: 128, clusterM: 2, clusterN: 1 }] as ConfigOverride[]) {
        const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G }, { config });
        const r = runMasked(device, inputs, [300, 129, 1], plan);
        report(`config ${JSON.stringify(config)}`, r);
        expectGood(r);
      }
    });

    test("the convenience call; debug checks refuse maskedM outside [0, M_max] before the launch", () => {
      const G = 2, mMax = 64, n = 256, k = 256;
      using inputs = maskedInputs(device, G, mMax, n, k);
      const t = inputs.tensors;
      copyHostToDevice(t.maskedM, Int32Array.from([10, 64]));
      memsetD8(t.d, 0xff);
      mGroupedFp8GemmNtMasked(t, { expectedM: 32 });
      expectGood(checkMasked(inputs, [10, 64], t.d.toHost() as Uint16Array));
      copyHostToDevice(t.maskedM, Int32Array.from([10, 65]));
      memsetD8(t.d, 0xff);
      expect(() => mGroupedFp8GemmNtMasked(t, { expectedM: 32, debugChecks: true })).toThrow(DeviceDataError);
      expect((t.d.toHost() as Uint16Array).every((v) => v === 0xffff)).toBe(true);
      using wrongLength = Tensor.empty(device, [3], "i32");
      expect(() => mGroupedFp8GemmNtMasked({ ...t, maskedM: wrongLength })).toThrow(/maskedM.shape/);
    });

    test("split last round: 2, 3 and 4 parts per left-over tile, partial rows, the same plan again; equal to the unsplit kernel", () => {
      // 132 SMs: 160 tiles leave 28 (4 parts), 192 leave 60 (2), 168 leave 36 (3); 224 leave 92 (not split).
      const cases: [n: number, mMax: number, maskedM: number[]][] = [
        [4096, 768, [640]], [4096, 768, [768]], [4096, 768, [520]], [4096, 768, [700]],
        [7168, 512, [384, 0]], [7168, 512, [200, 130]],
      ];
      for (const n of [4096, 7168]) {
        const mMax = cases.find((c) => c[0] === n)![1];
        const G = n === 4096 ? 1 : 2, k = 7168;
        using inputs = maskedInputs(device, G, mMax, n, k);
        using split = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM: mMax });
        using whole = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM: mMax }, { config: { splitLastRound: false } });
        expect(split.config.splitLastRound).toBe(true);
        expect(whole.config.splitLastRound).toBe(false);
        for (const [, , maskedM] of cases.filter((c) => c[0] === n)) {
          const r = runMasked(device, inputs, maskedM, split);
          report(`split N=${n} maskedM ${maskedM.join(",")}`, r);
          expectGood(r);
          const first = inputs.tensors.d.toHost() as Uint16Array;
          // The parts are summed in part order whichever finishes last: bit-identical on a rerun.
          expectGood(runMasked(device, inputs, maskedM, split));
          expect(Buffer.from((inputs.tensors.d.toHost() as Uint16Array).buffer).equals(Buffer.from(first.buffer))).toBe(true);
          const u = runMasked(device, inputs, maskedM, whole);
          expectGood(u);
          // Different summation order only: the same rows written, and the values a BF16 rounding
          // apart at most (a lost or doubled part would be tens of percent off).
          const unsplit = inputs.tensors.d.toHost() as Uint16Array;
          expect(bf16RelDifference(first, unsplit)).toBeLessThan(1e-3);
        }
      }
      using disposed = planMGroupedFp8GemmNtMasked(device, { mMax: 128, n: 512, k: 1024, numGroups: 1 });
      disposed.dispose();
      using inputs = maskedInputs(device, 1, 128, 512, 1024);
      expect(() => disposed.run(inputs.tensors)).toThrow(DisposedError);
    });

    test("CUDA graph: captured once, replayed with new counts written into maskedM", () => {
      // K = 3072: 24 k-blocks, so the (few) tiles are split in 2 parts along K and every replay
      // also shows that the tile counters are back at zero after each launch.
      const G = 4, expectedM = 96, mMax = 256, n = 512, k = 3072;
      using inputs = maskedInputs(device, G, mMax, n, k);
      using stream = Stream.create(device);
      using staging = Tensor.empty(device, [G], "i32");
      const t = inputs.tensors;
      const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM }, { debugChecks: false, config: { clusterM: 1, clusterN: 1 } });
      expect(plan.config.splitLastRound).toBe(true);
      copyHostToDevice(t.maskedM, new Int32Array(G)); // capture reads nothing, but keep it defined
      using graph = CudaGraph.capture(stream, () => plan.run(t, stream));
      for (const maskedM of [randomCounts(G, expectedM, mMax), [0, mMax, 1, 0], randomCounts(G, expectedM, mMax), [0, 0, 0, 0]]) {
        copyHostToDevice(staging, Int32Array.from(maskedM));
        copyDeviceToDevice(t.maskedM, staging, G * 4, stream);
        memsetD8(t.d, 0xff, stream);
        graph.launch(stream);
        stream.synchronize();
        const r = checkMasked(inputs, maskedM, t.d.toHost() as Uint16Array, plan.config);
        report(`graph replay maskedM ${maskedM.join(",")}`, r);
        expectGood(r);
      }
    });

    test("CUDA graph: replays beside the plan's own launches on another stream stay right (each has its own split workspace)", () => {
      // Same split shape as above; the graph's replay on one stream and the plan's launch on a second
      // stream run at once. Sharing one workspace, their parts would mix partial sums and counters.
      const G = 4, expectedM = 96, mMax = 256, n = 512, k = 3072;
      using inputs = maskedInputs(device, G, mMax, n, k);
      using graphStream = Stream.create(device);
      using planStream = Stream.create(device);
      using dPlan = Tensor.empty(device, [G, mMax, n], "bf16");
      using maskedPlan = Tensor.empty(device, [G], "i32");
      const t = inputs.tensors;
      const plan = planMGroupedFp8GemmNtMasked(device, { mMax, n, k, numGroups: G, expectedM }, { debugChecks: false, config: { clusterM: 1, clusterN: 1 } });
      expect(plan.config.splitLastRound).toBe(true);
      copyHostToDevice(t.maskedM, new Int32Array(G));
      using graph = CudaGraph.capture(graphStream, () => plan.run(t, graphStream));
      for (let round = 0; round < 3; round++) {
        const forGraph = randomCounts(G, expectedM, mMax);
        const forPlan = randomCounts(G, expectedM, mMax);
        copyHostToDevice(t.maskedM, Int32Array.from(forGraph));
        copyHostToDevice(maskedPlan, Int32Array.from(forPlan));
        memsetD8(t.d, 0xff);
        memsetD8(dPlan, 0xff);
        graph.launch(graphStream);
        plan.run({ ...t, d: dPlan, maskedM: maskedPlan }, planStream);
        graphStream.synchronize();
        planStream.synchronize();
        const rGraph = checkMasked(inputs, forGraph, t.d.toHost() as Uint16Array, plan.config);
        const rPlan = checkMasked(inputs, forPlan, dPlan.toHost() as Uint16Array, plan.config);
        report(`graph beside plan, round ${round}: graph`, rGraph);
        report(`graph beside plan, round ${round}: plan`, rPlan);
        expectGood(rGraph);
        expectGood(rPlan);
      }
      // The plan's dispose frees only its own workspace: the graph still replays, and right.
      plan.dispose();
      const counts = randomCounts(G, expectedM, mMax);
      copyHostToDevice(t.maskedM, Int32Array.from(counts));
      memsetD8(t.d, 0xff);
      graph.launch(graphStream);
      graphStream.synchronize();
      expectGood(checkMasked(inputs, counts, t.d.toHost() as Uint16Array, plan.config));
    });
  });
});
