/**
 * Dense FP8 GEMM on the GPU against an f64 reference computed from the same FP8 codes and scales.
 * Fresh random data every run; D poisoned (all bits set = NaN) before each launch and checked
 * fully written after. Skips, saying why, where there is no CUDA device.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { Device } from "../../src/runtime/device.ts";
import { memsetD8 } from "../../src/runtime/memory.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { alignedM, numBlocks, scalesToTmaAligned } from "../../src/quant/layout.ts";
import { planFp8GemmNt, fp8GemmNt, type KernelConfig } from "../../src/gemm/index.ts";
import { DisposedError, InvalidArgumentError } from "../../src/errors.ts";
import { Stream } from "../../src/runtime/stream.ts";
import { CudaGraph } from "../../src/runtime/graph.ts";
import { copyHostToDevice } from "../../src/runtime/memory.ts";
import { BF16_TOLERANCE, countPoison, outputAt, randomFp8Codes, randomScales, referenceAt, relError, sampleOf } from "../support/gemmCheck.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("dense GEMM GPU tests");

// FP32 output keeps the tensor core's own error: its accumulator holds ~13-14 mantissa bits within a
// 128-wide k-block (2.2e-4 measured on the H200); DESIGN §1 asks for about 1e-3 or less.
const FP32_TOLERANCE = 1e-3;
const DESIGN_NK: [number, number][] = [[2112, 7168], [24576, 1536], [32768, 512], [7168, 16384], [4096, 7168], [7168, 2048]];

interface CaseOptions {
  outDtype?: "bf16" | "f32";
  accumulate?: boolean;
  config?: Partial<Omit<KernelConfig, "tmaStore">>;
  singleLevel?: boolean;
  /** Scales constant along K (the single-level variant is only defined then). */
  uniformAlongK?: boolean;
  /** PlanOptions.maxSms. */
  maxSms?: number;
  /** The grid (CTAs) the plan must launch. */
  grid?: number;
}

interface CaseResult {
  relError: number;
  unwritten: number;
  config: KernelConfig;
}

function scalesFor(rows: number, kBlocks: number, uniformAlongK: boolean): Float32Array {
  if (!uniformAlongK) return randomScales(rows * kBlocks);
  const perRow = randomScales(rows);
  return Float32Array.from({ length: rows * kBlocks }, (_, i) => perRow[Math.floor(i / kBlocks)]!);
}

function runDense(device: Device, m: number, n: number, k: number, o: CaseOptions = {}): CaseResult {
  const outDtype = o.outDtype ?? "bf16";
  const kBlocks = numBlocks(k);
  const a = randomFp8Codes(m * k), b = randomFp8Codes(n * k);
  const sfaLogical = scalesFor(m, kBlocks, o.uniformAlongK ?? false);
  const sfb = scalesFor(numBlocks(n), kBlocks, o.uniformAlongK ?? false);
  const c = o.accumulate ? Float32Array.from({ length: m * n }, () => Math.random() * 2 - 1) : undefined;
  const plan = planFp8GemmNt(device, { m, n, k, outDtype, accumulate: o.accumulate ?? false }, { config: o.config, singleLevelForTest: o.singleLevel, maxSms: o.maxSms });
  if (o.grid !== undefined) expect(plan.gridSize).toBe(o.grid);
  using aT = Tensor.fromHost(device, a, [m, k], "e4m3");
  using bT = Tensor.fromHost(device, b, [n, k], "e4m3");
  using sfaT = Tensor.fromHost(device, scalesToTmaAligned(sfaLogical, m, kBlocks), [kBlocks, alignedM(m)], "f32");
  using sfbT = Tensor.fromHost(device, sfb, [numBlocks(n), kBlocks], "f32");
  using dT = Tensor.empty(device, [m, n], outDtype);
  using cT = c ? Tensor.fromHost(device, c, [m, n], "f32") : undefined;
  memsetD8(dT, 0xff);
  plan.run({ a: aT, sfa: sfaT, b: bT, sfb: sfbT, d: dT, c: cT });
  const d = dT.toHost() as Uint16Array | Float32Array;
  const sample = sampleOf(m, n, k);
  const ref = referenceAt(sample, a, sfaLogical, b, sfb, k);
  if (c) sample.rows.forEach((row, i) => sample.cols.forEach((col, j) => (ref[i * sample.cols.length + j]! += c[row * n + col]!)));
  return { relError: relError(outputAt(sample, d, n), ref), unwritten: countPoison(d), config: plan.config };
}

describe.skipIf(!gpu.ok)("fp8GemmNt on the GPU", () => {
  const device = gpu.ok ? Device.get(0) : (undefined as unknown as Device);

  for (const m of [64, 128, 4096]) {
    for (const [n, k] of DESIGN_NK) {
      test(`DESIGN §7 M=${m} N=${n} K=${k}`, () => {
        const r = runDense(device, m, n, k);
        console.log(`  M=${m} N=${n} K=${k} relError=${r.relError.toExponential(2)} config=${JSON.stringify(r.config)}`);
        expect(r.unwritten).toBe(0);
        expect(r.relError).toBeLessThanOrEqual(BF16_TOLERANCE);
      });
    }
  }

  test("8192 x 8192 x 8192", () => {
    const r = runDense(device, 8192, 8192, 8192);
    expect(r.unwritten).toBe(0);
    expect(r.relError).toBeLessThanOrEqual(BF16_TOLERANCE);
  });

  const edges: [string, number, number, number, CaseOptions?][] = [
    ["M = 1", 1, 2112, 7168],
    ["M = 7", 7, 4096, 512],
    ["M = 33 in one 64-row tile, B shared by a 2-CTA cluster (shrunk A box)", 33, 1024, 1024, { config: { blockM: 64, blockN: 64, clusterM: 2, clusterN: 1 } }],
    ["M = 100 in one 128-row tile (shrunk A box, 104 rows)", 100, 1000, 2048, { config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1 } }],
    ["M = 200 in one 256-row tile (shrunk A box across both waves)", 200, 512, 1024, { config: { blockM: 256, blockN: 128, clusterM: 1, clusterN: 1 } }],
    ["M = 129 (two m-blocks, 1 real row in the second)", 129, 7168, 2048],
    ["N not a multiple of BLOCK_N nor of 128", 200, 1000, 256],
    ["K = 128 (one k-block)", 128, 1024, 128],
    ["K = 16384", 128, 2112, 16384],
    ["K not a multiple of 128 (tail k-block)", 33, 136, 272],
    ["K = 32 < 128", 9, 1000, 32],
    ["odd N (plain-store epilogue)", 100, 2111, 512],
    ["N % 8 != 0 (plain-store epilogue)", 64, 1004, 256],
    ["BLOCK_N = 96 straddles B-scale blocks", 256, 1000, 512, { config: { blockN: 96, clusterM: 1, clusterN: 1 } }],
    ["BLOCK_N = 144 straddles B-scale blocks", 256, 1000, 512, { config: { blockN: 144, clusterM: 1, clusterN: 1 } }],
    ["BLOCK_N = 160 straddles B-scale blocks", 256, 1000, 512, { config: { blockN: 160, clusterM: 1, clusterN: 1 } }],
    ["BLOCK_N = 192, BLOCK_M = 128", 300, 1000, 512, { config: { blockM: 128, blockN: 192, clusterM: 1, clusterN: 1 } }],
    ["BLOCK_N = 16, BLOCK_M = 64", 70, 300, 1024, { config: { blockM: 64, blockN: 16, clusterM: 1, clusterN: 1 } }],
    ["2-CTA cluster sharing B, odd m-block count", 3 * 128 + 5, 512, 1024, { config: { blockM: 128, blockN: 128, clusterM: 2, clusterN: 1 } }],
    ["2-CTA cluster sharing A, odd n-block count", 256, 5 * 64, 1024, { config: { blockM: 64, blockN: 64, clusterM: 1, clusterN: 2 } }],
    ["2-CTA cluster sharing A, BLOCK_M = 128, straddling BLOCK_N", 256, 1000, 2048, { config: { blockM: 128, blockN: 160, clusterM: 1, clusterN: 2 } }],
    ["B scales staged by the math warps, BLOCK_N = 144", 300, 1000, 1024, { config: { blockM: 128, blockN: 144, clusterM: 1, clusterN: 1, scaleBSource: "math-staged" } }],
    ["B scales staged by the producer warp, straddling BLOCK_N = 96, many tiles", 1000, 1000, 1024, { config: { blockM: 64, blockN: 96, clusterM: 1, clusterN: 1, scaleBSource: "producer" } }],
    ["B scales staged by the producer warp, BLOCK_M = 128, 2-CTA cluster", 515, 2000, 2048, { config: { blockM: 128, blockN: 128, clusterM: 2, clusterN: 1, scaleBSource: "producer" } }],
    ["BLOCK_M = 256 (two waves), partial last tile", 300, 1000, 1024, { config: { blockM: 256, blockN: 128, clusterM: 1, clusterN: 1 } }],
    ["BLOCK_M = 256, ordered math, straddling BLOCK_N = 96, producer-staged scales", 520, 1000, 2048, { config: { blockM: 256, blockN: 96, clusterM: 1, clusterN: 1, orderedMath: true, scaleBSource: "producer" } }],
    // Stage-aligned passes: each tile starts at stage 0, the last round of k-blocks padded with empty slots.
    ["stage-aligned rounds, BLOCK_M = 256, 2-CTA cluster sharing A, 16 k-blocks in 3 stages (2 padding slots), 2-3 tiles per CTA", 1100, 4000, 2048, { config: { blockM: 256, blockN: 128, numStages: 3, clusterM: 1, clusterN: 2 } }],
    ["stage-aligned rounds, BLOCK_M = 128 serial, straddling BLOCK_N = 192, 11 k-blocks in 4 stages", 700, 3000, 1408, { config: { blockM: 128, blockN: 192, numStages: 4, clusterM: 1, clusterN: 1, pipelinedPromotion: false } }],
    ["BLOCK_M = 256, FP32 output (plain stores)", 300, 520, 512, { outDtype: "f32", config: { blockM: 256, blockN: 64, clusterM: 1, clusterN: 1 } }],
    ["pipelined promotion, 2-CTA cluster sharing A, 56 k-blocks (stage-aligned: 12 rounds of 5, 4 padding slots)", 300, 1000, 7168, { config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 2, pipelinedPromotion: true } }],
    ["pipelined promotion, BLOCK_M = 64, straddling BLOCK_N = 112, 9 k-blocks (a tail run of 1)", 70, 1000, 1152, { config: { blockM: 64, blockN: 112, clusterM: 1, clusterN: 1, pipelinedPromotion: true } }],
    ["pipelined promotion, one k-block", 33, 136, 128, { config: { blockM: 128, blockN: 64, clusterM: 1, clusterN: 1, pipelinedPromotion: true } }],
    ["pipelined promotion, producer-staged scales, 7 k-blocks, many tiles", 1000, 2000, 896, { config: { blockM: 128, blockN: 96, clusterM: 2, clusterN: 1, scaleBSource: "producer", pipelinedPromotion: true } }],
    ["pipelined promotion, FP32 output with D = C + A·Bᵀ", 129, 1000, 1024, { outDtype: "f32", accumulate: true, config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1, pipelinedPromotion: true } }],
    // The last round split along K (scheduler.cuh, split_k.cuh): parts summed through the workspace.
    ["split last round: 160 tiles of 128 x 128 on 132 SMs, 28 left over in 4 parts of 14 k-blocks", 640, 4096, 7168, { config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1, splitLastRound: true } }],
    ["split last round: FP32 output with D = C + A·Bᵀ (C added once), 24 tiles in 2 parts, N not a multiple of 128", 300, 1000, 3072, { outDtype: "f32", accumulate: true, config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1, splitLastRound: true } }],
    ["split last round: BLOCK_M = 64, serial promotion, 40 tiles in 3 parts of 12 k-blocks", 128, 2560, 4608, { config: { blockM: 64, blockN: 128, clusterM: 1, clusterN: 1, pipelinedPromotion: false, splitLastRound: true } }],
    // maxSms: fewer CTAs walk more rounds; a split last round on a grid of 50 (155 tiles: 3 rounds, 5 left in 4 parts).
    ["maxSms = 7: 7 CTAs walk 160 tiles of 128 x 128", 640, 4096, 2048, { maxSms: 7, grid: 7, config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1 } }],
    ["maxSms = 5 with a 2-CTA cluster sharing A (a grid of 4)", 300, 1000, 1024, { maxSms: 5, grid: 4, config: { blockM: 64, blockN: 64, clusterM: 1, clusterN: 2 } }],
    ["maxSms = 50, split last round: 155 tiles, 5 left over in 4 parts", 640, 3968, 7168, { maxSms: 50, grid: 50, config: { blockM: 128, blockN: 128, clusterM: 1, clusterN: 1, splitLastRound: true } }],
    ["maxSms = 1: one CTA, the heuristics' choice", 200, 1000, 512, { maxSms: 1, grid: 1 }],
    ["FP32 output", 129, 1000, 1024, { outDtype: "f32" }],
    ["FP32 output with D = C + A·Bᵀ", 129, 1000, 1024, { outDtype: "f32", accumulate: true }],
  ];
  for (const [name, m, n, k, o] of edges) {
    test(`edge: ${name} (M=${m} N=${n} K=${k})`, () => {
      const r = runDense(device, m, n, k, o);
      console.log(`  ${name}: relError=${r.relError.toExponential(2)} config=${JSON.stringify(r.config)}`);
      expect(r.unwritten).toBe(0);
      expect(r.relError).toBeLessThanOrEqual(o?.outDtype === "f32" ? FP32_TOLERANCE : BF16_TOLERANCE);
    });
  }

  test("accumulation in place (C and D the same tensor)", () => {
    const m = 64, n = 256, k = 256, kBlocks = numBlocks(k);
    const a = randomFp8Codes(m * k), b = randomFp8Codes(n * k);
    const sfa = randomScales(m * kBlocks), sfb = randomScales(numBlocks(n) * kBlocks);
    const c = Float32Array.from({ length: m * n }, () => Math.random());
    using aT = Tensor.fromHost(device, a, [m, k], "e4m3");
    using bT = Tensor.fromHost(device, b, [n, k], "e4m3");
    using sfaT = Tensor.fromHost(device, scalesToTmaAligned(sfa, m, kBlocks), [kBlocks, alignedM(m)], "f32");
    using sfbT = Tensor.fromHost(device, sfb, [numBlocks(n), kBlocks], "f32");
    using dT = Tensor.fromHost(device, c, [m, n], "f32");
    fp8GemmNt({ a: aT, sfa: sfaT, b: bT, sfb: sfbT, d: dT, c: dT });
    const sample = sampleOf(m, n, k);
    const ref = referenceAt(sample, a, sfa, b, sfb, k);
    ref.forEach((_, i) => (ref[i]! += c[i]!));
    expect(relError(outputAt(sample, dT.toHost() as Float32Array, n), ref)).toBeLessThan(FP32_TOLERANCE);
  });

  test("two-level accumulation vs single-level at K = 16384 (FP32 output)", () => {
    const m = 256, n = 1024, k = 16384;
    const twoLevel = runDense(device, m, n, k, { outDtype: "f32", uniformAlongK: true });
    const singleLevel = runDense(device, m, n, k, { outDtype: "f32", uniformAlongK: true, singleLevel: true });
    console.log(`  K=16384 FP32: two-level relError=${twoLevel.relError.toExponential(3)}, single-level relError=${singleLevel.relError.toExponential(3)}`);
    expect(twoLevel.unwritten).toBe(0);
    expect(twoLevel.relError).toBeLessThanOrEqual(1e-3);
    expect(twoLevel.relError).toBeLessThan(singleLevel.relError);
  });

  test("a plan captured in a CUDA graph replays with new data in the same buffers", () => {
    const m = 256, n = 1024, k = 1024, kBlocks = numBlocks(k);
    const plan = planFp8GemmNt(device, { m, n, k });
    using stream = Stream.create(device);
    using aT = Tensor.empty(device, [m, k], "e4m3");
    using bT = Tensor.empty(device, [n, k], "e4m3");
    using sfaT = Tensor.empty(device, [kBlocks, alignedM(m)], "f32");
    using sfbT = Tensor.empty(device, [numBlocks(n), kBlocks], "f32");
    using dT = Tensor.empty(device, [m, n], "bf16");
    const fill = () => {
      const a = randomFp8Codes(m * k), b = randomFp8Codes(n * k);
      const sfa = randomScales(m * kBlocks), sfb = randomScales(numBlocks(n) * kBlocks);
      copyHostToDevice(aT, a);
      copyHostToDevice(bT, b);
      copyHostToDevice(sfaT, scalesToTmaAligned(sfa, m, kBlocks));
      copyHostToDevice(sfbT, sfb);
      memsetD8(dT, 0xff);
      return { a, b, sfa, sfb };
    };
    fill();
    using graph = CudaGraph.capture(stream, () => plan.run({ a: aT, sfa: sfaT, b: bT, sfb: sfbT, d: dT }, stream));
    for (let replay = 0; replay < 2; replay++) {
      const host = fill();
      graph.launch(stream);
      stream.synchronize();
      const d = dT.toHost() as Uint16Array;
      const sample = sampleOf(m, n, k);
      expect(countPoison(d)).toBe(0);
      expect(relError(outputAt(sample, d, n), referenceAt(sample, host.a, host.sfa, host.b, host.sfb, k))).toBeLessThanOrEqual(BF16_TOLERANCE);
    }
    // A graph whose output was freed refuses to replay (the replay would write freed memory).
    const extraD = Tensor.empty(device, [m, n], "bf16");
    const orphan = CudaGraph.capture(stream, () => plan.run({ a: aT, sfa: sfaT, b: bT, sfb: sfbT, d: extraD }, stream));
    extraD.dispose();
    expect(() => orphan.launch(stream)).toThrow(DisposedError);
    orphan.dispose();
    stream.synchronize();
  });

  describe("bad input is refused before launch", () => {
    const m = 64, n = 256, k = 256, kBlocks = numBlocks(k);
    function operands() {
      return {
        a: Tensor.fromHost(device, randomFp8Codes(m * k), [m, k], "e4m3"),
        b: Tensor.fromHost(device, randomFp8Codes(n * k), [n, k], "e4m3"),
        sfa: Tensor.fromHost(device, randomScales(kBlocks * alignedM(m)), [kBlocks, alignedM(m)], "f32"),
        sfb: Tensor.fromHost(device, randomScales(numBlocks(n) * kBlocks), [numBlocks(n), kBlocks], "f32"),
        d: Tensor.empty(device, [m, n], "bf16"),
      };
    }
    function expectRefused(mutate: (o: ReturnType<typeof operands>) => Record<string, Tensor>, rule: RegExp, type: Function = InvalidArgumentError) {
      const o = operands();
      const plan = planFp8GemmNt(device, { m, n, k });
      const args = { ...o, ...mutate(o) };
      memsetD8(args.d, 0xff); // the output actually passed (a replaced d included)
      expect(() => plan.run(args as never)).toThrow(type as never);
      try {
        plan.run(args as never);
      } catch (error) {
        expect(String(error)).toMatch(rule);
      }
      const out = args.d.toHost() as Uint16Array | Float32Array; // bf16, or the f32 of the wrong-dtype case
      expect(countPoison(out)).toBe(m * n); // nothing was launched
      for (const t of Object.values(args)) t.dispose();
      for (const t of Object.values(o)) t.dispose();
    }

    test("wrong dtype", () => expectRefused((o) => ({ a: Tensor.empty(device, [m, k], "bf16") }), /a\.dtype: must be e4m3/));
    test("shape mismatch", () => expectRefused(() => ({ b: Tensor.empty(device, [n, k + 16], "e4m3") }), /b\.shape: must be \[256, 256\]/));
    test("misaligned row stride", () =>
      expectRefused(() => ({ a: Tensor.empty(device, [m, k + 8], "e4m3").view([m, k], [k + 8, 1]) }), /a\.strides: the row stride must cover a row and be a multiple of 16 bytes/));
    test("A scales in the logical instead of the transposed TMA-aligned layout", () =>
      expectRefused(() => ({ sfa: Tensor.empty(device, [m, kBlocks], "f32") }), /sfa\.shape: must be \[2, 64\]/));
    test("B scales of the wrong shape", () =>
      expectRefused(() => ({ sfb: Tensor.empty(device, [numBlocks(n), kBlocks + 1], "f32") }), /sfb\.shape: must be \[2, 2\]/));
    test("output of the wrong dtype", () => expectRefused(() => ({ d: Tensor.empty(device, [m, n], "f32") }), /d\.dtype: must be bf16/));
    test("a disposed tensor", () =>
      expectRefused(() => {
        const t = Tensor.empty(device, [m, k], "e4m3");
        t.dispose();
        return { a: t };
      }, /used after dispose/, DisposedError));
    test("K off the alignment rule", () => {
      expect(() => planFp8GemmNt(device, { m, n, k: 100 })).toThrow(/shape\.k: k must be a multiple of 16 \(got 100\)/);
    });
    test("N not positive", () => {
      expect(() => planFp8GemmNt(device, { m, n: 0, k })).toThrow(InvalidArgumentError);
    });
    test("accumulate with BF16 output", () => {
      expect(() => planFp8GemmNt(device, { m, n, k, accumulate: true })).toThrow(/accumulate.*f32/);
    });
  });
});
