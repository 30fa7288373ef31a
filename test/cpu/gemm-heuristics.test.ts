/**
 * The heuristics' invariants, on every DESIGN §7 shape and a sweep of odd ones: whatever they pick
 * fits the device, is a configuration the kernel accepts (its static_asserts restated), and follows
 * the rules each exclusion in src/gemm/heuristics.ts explains.
 */
import { describe, expect, test } from "bun:test";
import {
  BLOCK_N_CANDIDATES,
  MASKED_COUNT_SPREAD,
  MAX_STAGES,
  MIN_STAGES,
  candidateConfigs,
  estimateSeconds,
  maxStages,
  scaleBSourceFor,
  selectConfig,
  stageCapFor,
  stagesFor,
} from "../../src/gemm/heuristics.ts";
import { blockNStraddlesAtMostTwo, fixedSharedBytes, pipelinedPromotionFits, sharedMemoryBytes, threadsPerCta, type GemmProblem, type KernelConfig } from "../../src/gemm/config.ts";
import { kernelConfigOverrideSchema } from "../../src/gemm/schema.ts";
import { resolveConfig } from "../../src/gemm/resolveConfig.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

const H200 = { numSms: 132, maxSharedBytes: 232448 };
const DENSE_K7168 = { gemmType: "dense", k: 7168 } as const;
const DENSE_NK: [number, number][] = [[2112, 7168], [24576, 1536], [32768, 512], [7168, 16384], [4096, 7168], [7168, 2048]];

function dense(m: number, n: number, k: number, extra: Partial<GemmProblem> = {}): GemmProblem {
  return { gemmType: "dense", m, n, k, numGroups: 1, outDtype: "bf16", accumulate: false, ...extra };
}

function problems(): GemmProblem[] {
  const out: GemmProblem[] = [];
  for (const m of [1, 7, 64, 65, 128, 129, 300, 4096, 8192]) for (const [n, k] of DENSE_NK) out.push(dense(m, n, k));
  out.push(dense(8192, 8192, 8192), dense(33, 1000, 272), dense(100, 2111, 512), dense(129, 1000, 1024, { outDtype: "f32", accumulate: true }));
  for (const [g, e] of [[1, 1024], [2, 512], [4, 256]] as const) {
    for (const [n, k] of [[4096, 7168], [7168, 2048]] as const) {
      out.push({ gemmType: "masked", m: 2 * e, n, k, numGroups: g, expectedM: e, outDtype: "bf16", accumulate: false });
    }
  }
  for (const [g, mPer, n, k] of [[4, 8192, 4096, 7168], [8, 4096, 7168, 2048]] as const) {
    out.push({ gemmType: "contiguous", m: g * mPer, n, k, numGroups: g, outDtype: "bf16", accumulate: false });
    out.push({ gemmType: "contiguous", m: g * mPer, n, k, numGroups: g, outDtype: "f32", accumulate: true });
  }
  return out;
}

function kernelAccepts(p: GemmProblem, c: KernelConfig): void {
  expect([64, 128, 256]).toContain(c.blockM);
  expect(c.blockN % 16).toBe(0);
  expect(blockNStraddlesAtMostTwo(c.blockN)).toBe(true);
  expect(c.numStages).toBeGreaterThanOrEqual(MIN_STAGES);
  expect(c.numStages).toBeLessThanOrEqual(MAX_STAGES);
  expect(sharedMemoryBytes(c, p)).toBeLessThanOrEqual(H200.maxSharedBytes);
  expect(c.clusterM * c.clusterN).toBeLessThanOrEqual(2);
  expect(threadsPerCta(c)).toBe(c.blockM === 64 ? 256 : 384);
  // TMA boxes: at most 256 rows; multicast halves whole 8-row swizzle atoms.
  expect(c.blockM / c.clusterN).toBeLessThanOrEqual(256);
  expect((c.blockM / c.clusterN) % 8).toBe(0);
  expect((c.blockN / c.clusterM) % 8).toBe(0);
}

describe("selectConfig", () => {
  for (const p of problems()) {
    test(`${p.gemmType} M=${p.m} N=${p.n} K=${p.k} G=${p.numGroups}${p.accumulate ? " +C" : ""}: a configuration the kernel accepts`, () => {
      const c = selectConfig(p, H200);
      kernelAccepts(p, c);
      expect(selectConfig(p, H200)).toEqual(c); // pure: same input, same answer
      expect(c.tmaStore).toBe(p.outDtype === "bf16" && !p.accumulate && p.n % 8 === 0);
      if (p.gemmType === "contiguous") expect(c.clusterM).toBe(1);
      if (p.gemmType === "masked") expect(c.blockM).not.toBe(256);
      // Masked tiles walk one n-block column at a time; dense and contiguous strips of 8 (runs 28, 42).
      expect(c.rasterGroupN).toBe(p.gemmType === "masked" ? 1 : 8);
      // Pipelined promotion wherever it fits (one wave, staged B scales, BLOCK_N <= 128), nowhere else.
      expect(c.pipelinedPromotion).toBe(pipelinedPromotionFits(c.blockM, c.blockN));
      if (c.blockM === 256 && c.clusterM * c.clusterN > 1) expect(c.blockN === 128 && c.tmaStore).toBe(true);
      if (c.pipelinedPromotion) expect(c.blockM <= 128 && c.blockN <= 128).toBe(true);
      if (c.blockN === 192) expect(c.blockM === 128 && (p.gemmType !== "dense" || !c.tmaStore || c.clusterM * c.clusterN > 1)).toBe(false);
    });
  }

  test("large M: 256-row tiles, issue order free (run 52); A shared across a 2-CTA cluster only with many waves (run 51)", () => {
    // 4-16 waves: no cluster (multicast ran 1-2.6% slower, timed interleaved).
    for (const [m, n, k] of [[4096, 4096, 7168], [4096, 7168, 16384], [4096, 7168, 2048], [4096, 24576, 1536]] as const) {
      const c = selectConfig(dense(m, n, k), H200);
      expect({ m, blockM: c.blockM, clusterN: c.clusterN, orderedMath: c.orderedMath }).toEqual({ m, blockM: 256, clusterN: 1, orderedMath: false });
    }
    // 8192^3: 2048 tiles of 256 x 128 fill 15.5 rounds of 132 CTAs; 2752 of 128 x 192 fill 20.8, and
    // ran 2.5-3.4% faster timed interleaved (run 58).
    const square = selectConfig(dense(8192, 8192, 8192), H200);
    expect({ blockM: square.blockM, blockN: square.blockN, clusterN: square.clusterN }).toEqual({ blockM: 128, blockN: 192, clusterN: 1 });
    // 31 waves of long K loops (the contiguous rows' total M): multicast ran 4-8% ahead.
    const c = selectConfig(dense(32768, 4096, 7168), H200);
    expect({ blockM: c.blockM, clusterN: c.clusterN, orderedMath: c.orderedMath }).toEqual({ blockM: 256, clusterN: 2, orderedMath: false });
  });

  test("decode shapes (M <= 64) use one math warpgroup and keep at least 4/5 of the SMs streaming B", () => {
    // Memory-bound: each busy CTA streams its share of B, so SMs without a tile leave bandwidth
    // unused. The §7 choices give 112-384 tiles on 132 SMs.
    const floor = Math.floor((H200.numSms * 4) / 5);
    for (const m of [1, 64]) {
      for (const [n, k] of DENSE_NK) {
        const c = selectConfig(dense(m, n, k), H200);
        expect({ m, n, k, blockM: c.blockM }).toEqual({ m, n, k, blockM: 64 });
        expect({ m, n, k, tiles: Math.ceil(n / c.blockN) >= floor }).toEqual({ m, n, k, tiles: true });
      }
    }
  });

  test("the choice is the cheapest candidate of the cost model (ties: larger tile)", () => {
    for (const p of problems()) {
      const chosen = estimateSeconds(p, selectConfig(p, H200), H200);
      for (const c of candidateConfigs(p, H200)) expect(chosen).toBeLessThanOrEqual(estimateSeconds(p, c, H200) * 1.01);
    }
  });

  test("every candidate fits, and the stage count is the most that fits (or the tile's cap)", () => {
    for (const p of problems()) {
      for (const c of candidateConfigs(p, H200)) {
        kernelAccepts(p, c);
        expect(c.numStages).toBeLessThanOrEqual(stageCapFor(p, c.blockM));
        const more = { ...c, numStages: c.numStages + 1 };
        if (c.numStages < Math.min(MAX_STAGES, stageCapFor(p, c.blockM))) expect(sharedMemoryBytes(more, p)).toBeGreaterThan(H200.maxSharedBytes);
      }
    }
  });

  test("the cost model counts whole waves on compute-bound shapes: same waves, same time; one more, one tile more", () => {
    // 12 m-blocks x nBlocks tiles of the chosen tile shape without clusters, K = 7168 (compute-bound).
    const c: KernelConfig = { ...selectConfig(dense(4096, 7168, 7168), H200), clusterM: 1, clusterN: 1 };
    const estimate = (nBlocks: number) => estimateSeconds(dense(12 * c.blockM, nBlocks * c.blockN, 7168), c, H200);
    const waves = (nBlocks: number) => Math.ceil((12 * nBlocks) / H200.numSms);
    // 66 -> 6 waves exactly; 67 and 77 -> 7 (77: a full 7th wave); 78 -> 8 (one tile row past it).
    expect([66, 67, 77, 78].map(waves)).toEqual([6, 7, 7, 8]);
    const [six, sevenPartial, sevenFull, eight] = [66, 67, 77, 78].map(estimate) as [number, number, number, number];
    expect(sevenPartial / sevenFull).toBeCloseTo(1, 12);
    const step = sevenFull - six;
    expect(step).toBeGreaterThan(0);
    expect((eight - sevenFull) / step).toBeCloseTo(1, 9);
  });

  test("masked: the estimate is the mean over per-group counts spread around expectedM", () => {
    for (const [g, e] of [[1, 1024], [4, 256], [8, 100]] as const) {
      const p: GemmProblem = { gemmType: "masked", m: 2 * e, n: 7168, k: 2048, numGroups: g, expectedM: e, outDtype: "bf16", accumulate: false };
      for (const cfg of candidateConfigs(p, H200)) {
        const points = MASKED_COUNT_SPREAD.map((f) => estimateSeconds({ ...p, expectedM: undefined, m: Math.round(e * f) }, cfg, H200));
        expect(estimateSeconds(p, cfg, H200)).toBeCloseTo(points.reduce((a, b) => a + b, 0) / points.length, 12);
      }
    }
  });

  test("masked DESIGN §7 rows: 128 x 128 pipelined, the fastest over random counts in the run-18 sweep", () => {
    for (const [g, e] of [[1, 1024], [2, 512], [4, 256]] as const) {
      for (const [n, k] of [[4096, 7168], [7168, 2048]] as const) {
        const c = selectConfig({ gemmType: "masked", m: 2 * e, n, k, numGroups: g, expectedM: e, outDtype: "bf16", accumulate: false }, H200);
        expect({ g, e, n, k, tile: `${c.blockM}x${c.blockN}`, pipelined: c.pipelinedPromotion }).toEqual({ g, e, n, k, tile: "128x128", pipelined: true });
      }
    }
  });

  test("B scales: the producer ring up to 12 k-blocks everywhere, up to 16 on dense 256-row tiles (run 52)", () => {
    expect(scaleBSourceFor({ gemmType: "masked", k: 1536 }, 128)).toBe("producer");
    expect(scaleBSourceFor({ gemmType: "dense", k: 2048 }, 256)).toBe("producer");
    expect(scaleBSourceFor({ gemmType: "dense", k: 2049 }, 256)).toBe("math-staged");
    expect(scaleBSourceFor({ gemmType: "dense", k: 2048 }, 128)).toBe("math-staged");
    expect(scaleBSourceFor({ gemmType: "contiguous", k: 2048 }, 256)).toBe("math-staged");
    expect(scaleBSourceFor({ gemmType: "masked", k: 2048 }, 128)).toBe("math-staged");
    expect(selectConfig(dense(4096, 7168, 2048), H200).scaleBSource).toBe("producer");
  });

  test("contiguous, large M: the dense kernel's 256 x 128 tiles (a tile spanning two experts runs a pass per wave; run 24)", () => {
    for (const [g, mPer] of [[4, 8192], [8, 4096]] as const) {
      for (const [n, k, cluster] of [[4096, 7168, "c1x2"], [7168, 2048, "c1x1"]] as const) {
        const p: GemmProblem = { gemmType: "contiguous", m: g * mPer, n, k, numGroups: g, outDtype: "bf16", accumulate: false };
        const c = selectConfig(p, H200);
        expect(`${c.blockM}x${c.blockN} c${c.clusterM}x${c.clusterN}`).toBe(`256x128 ${cluster}`);
        // The dense plan on the same total M takes the same tile; only its B scales differ at K = 2048
        // (the producer ring, 2% ahead there on dense tiles and 2-4% behind on contiguous ones: run 52).
        const denseChoice = selectConfig({ ...p, gemmType: "dense", numGroups: 1 }, H200);
        expect(c.scaleBSource).toBe("math-staged");
        expect(denseChoice.scaleBSource).toBe(k === 2048 ? "producer" : "math-staged");
        expect(c).toEqual({ ...denseChoice, scaleBSource: c.scaleBSource, numStages: c.numStages });
      }
    }
  });

  test("dense 4096 x 2112 x 7168: 128 x 192 in 3 waves, not 128 x 128 in 5 (run 20 sweep: 102-104 vs 115 us)", () => {
    const c = selectConfig({ gemmType: "dense", m: 4096, n: 2112, k: 7168, numGroups: 1, outDtype: "bf16", accumulate: false }, H200);
    expect(`${c.blockM}x${c.blockN} c${c.clusterM}x${c.clusterN}${c.pipelinedPromotion ? " pipe" : ""}`).toBe("128x192 c1x1");
  });

  test("memory-bound ties go to tiles that do not straddle two B-scale blocks (N = 24576, K = 1536: run 54)", () => {
    for (const [m, tile] of [[1, "64x64"], [64, "64x64"], [128, "128x64"]] as const) {
      const c = selectConfig(dense(m, 24576, 1536), H200);
      expect({ m, tile: `${c.blockM}x${c.blockN}` }).toEqual({ m, tile });
    }
  });

  test("equal-area ties go to the taller tile (one row of tiles reads B once: 128 x 4096 x 7168, run 20)", () => {
    const c = selectConfig({ gemmType: "dense", m: 128, n: 4096, k: 7168, numGroups: 1, outDtype: "bf16", accumulate: false }, H200);
    expect(`${c.blockM}x${c.blockN}`).toBe("128x32");
  });

  test("BLOCK_N candidates: multiples of 16 whose tiles straddle at most two B-scale blocks", () => {
    expect(BLOCK_N_CANDIDATES).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 192]);
  });

  test("a smaller shared-memory limit lowers the stage count, and a too-small one leaves no candidate", () => {
    expect(maxStages(128, 128, DENSE_K7168, true, { numSms: 132, maxSharedBytes: 120_000 }, "math-staged")).toBeLessThan(maxStages(128, 128, DENSE_K7168, true, H200, "math-staged"));
    expect(maxStages(256, 128, DENSE_K7168, true, { numSms: 132, maxSharedBytes: 100_000 }, "math-staged")).toBe(0);
    expect(() => selectConfig(dense(4096, 4096, 7168), { numSms: 132, maxSharedBytes: 20_000 })).toThrow(/no kernel configuration fits/);
  });

  test("fewer SMs (PlanOptions.maxSms): the candidates are the full device's minus the clusters that no longer fit", () => {
    const name = (c: KernelConfig): string => JSON.stringify(c);
    for (const p of problems()) {
      const full = new Set(candidateConfigs(p, H200).map(name));
      for (const numSms of [1, 2, 3, 7, 66, 131]) {
        const limits = { ...H200, numSms };
        const fewer = candidateConfigs(p, limits);
        // A subset, so the reachable set compiled by CI (test/cpu/gemm-reachable-compile.test.ts) covers them.
        for (const c of fewer) expect(full.has(name(c))).toBe(true);
        for (const c of fewer) expect(c.clusterM * c.clusterN).toBeLessThanOrEqual(numSms);
        expect(fewer.length).toBe(numSms >= 2 ? full.size : [...full].filter((c) => !c.includes('"clusterM":2') && !c.includes('"clusterN":2')).length);
        const chosen = selectConfig(p, limits);
        kernelAccepts(p, chosen);
        expect(Number.isFinite(estimateSeconds(p, chosen, limits))).toBe(true);
      }
    }
  });

  test("contiguous 256-row tiles have the staging tile's space with or without the TMA store (wave 0 waits there); others only with it", () => {
    const staging = 256 * 128 * 2;
    const contiguous = { gemmType: "contiguous", k: 7168 } as const;
    expect(fixedSharedBytes(256, 128, contiguous, false, "math-staged")).toBe(fixedSharedBytes(256, 128, contiguous, true, "math-staged"));
    expect(fixedSharedBytes(256, 128, DENSE_K7168, true, "math-staged") - fixedSharedBytes(256, 128, DENSE_K7168, false, "math-staged")).toBe(staging);
    expect(fixedSharedBytes(128, 128, contiguous, true, "math-staged") - fixedSharedBytes(128, 128, contiguous, false, "math-staged")).toBe(128 * 128 * 2);
    // FP32 outputs into C (no TMA store) still get 3 stages of 256 x 128 beside it.
    const p: GemmProblem = { gemmType: "contiguous", m: 32768, n: 4096, k: 7168, numGroups: 4, outDtype: "f32", accumulate: true };
    expect(stagesFor(p, 256, 128, false, H200)).toBe(3);
  });
});

describe("kernelConfigOverrideSchema", () => {
  test("B scales come from shared memory only: the removed register path is refused by name", () => {
    expect(kernelConfigOverrideSchema.safeParse({ scaleBSource: "producer" }).success).toBe(true);
    const refused = kernelConfigOverrideSchema.safeParse({ scaleBSource: "global" });
    expect(refused.success).toBe(false);
    expect(JSON.stringify(refused.error?.issues)).toContain("math-staged");
  });
});

describe("resolveConfig (overrides)", () => {
  test("an override keeps the rest of the heuristics' choice and re-derives the stages for a new tile", () => {
    const p = dense(4096, 7168, 2048);
    const c = resolveConfig(p, H200, { blockM: 64, blockN: 64 });
    expect(c.blockM).toBe(64);
    expect(c.numStages).toBe(maxStages(64, 64, p, c.tmaStore, H200, c.scaleBSource));
  });

  test("a field given as undefined counts as not given (options built from optional variables)", () => {
    const p = dense(4096, 7168, 2048);
    const given = resolveConfig(p, H200, { blockM: 64, blockN: 64 });
    expect(resolveConfig(p, H200, { blockM: 64, blockN: 64, numStages: undefined, clusterM: undefined, pipelinedPromotion: undefined })).toEqual(given);
    const every = Object.fromEntries(Object.keys(selectConfig(p, H200)).map((field) => [field, undefined]));
    expect(resolveConfig(p, H200, every)).toEqual(resolveConfig(p, H200));
  });

  test("a cluster larger than maxSms allows is refused by name", () => {
    const p = dense(4096, 4096, 7168);
    expect(() => resolveConfig(p, { ...H200, numSms: 1 }, { clusterN: 2 })).toThrow(InvalidArgumentError);
    expect(() => resolveConfig(p, { ...H200, numSms: 1 }, { clusterN: 2 })).toThrow(/config: a cluster of 2 CTAs needs at least as many SMs; maxSms allows 1/);
    expect(resolveConfig(p, { ...H200, numSms: 2 }, { clusterN: 2 }).clusterN).toBe(2);
  });

  test("overrides the kernel cannot take are refused with the rule", () => {
    const p = dense(4096, 7168, 2048);
    expect(() => resolveConfig(p, H200, { blockM: 256, blockN: 192 })).toThrow(InvalidArgumentError);
    expect(() => resolveConfig(p, H200, { blockM: 256, blockN: 96, clusterN: 2 })).toThrow(/BLOCK_N = 128 and the TMA-store/);
    expect(() => resolveConfig(p, H200, { blockM: 256, blockN: 128, pipelinedPromotion: true })).toThrow(/pipelinedPromotion.*BLOCK_M <= 128/);
    expect(() => resolveConfig(p, H200, { blockM: 128, blockN: 160, pipelinedPromotion: true })).toThrow(/BLOCK_N <= 128/);
    expect(() => resolveConfig(p, H200, { blockM: 128, blockN: 112, pipelinedPromotion: true })).toThrow(/not 128 x 112/);
    expect(resolveConfig(p, H200, { blockM: 64, blockN: 112, pipelinedPromotion: true }).pipelinedPromotion).toBe(true);
    expect(() => resolveConfig(p, H200, { blockM: 128, blockN: 128, clusterM: 2, clusterN: 2 })).toThrow(/not both/);
    expect(() => resolveConfig(p, H200, { blockM: 128, blockN: 128, numStages: 12 })).toThrow(/shared memory/);
    const grouped: GemmProblem = { gemmType: "contiguous", m: 4096, n: 4096, k: 7168, numGroups: 4, outDtype: "bf16", accumulate: false };
    expect(() => resolveConfig(grouped, H200, { clusterM: 2, clusterN: 1 })).toThrow(/cannot share B/);
    // A 256-row contiguous tile is allowed: one whose waves belong to two experts runs a pass per wave.
    expect(resolveConfig(grouped, H200, { blockM: 256, blockN: 128 }).blockM).toBe(256);
    const masked: GemmProblem = { ...grouped, gemmType: "masked", m: 512, expectedM: 256 };
    expect(selectConfig(masked, H200).blockM).not.toBe(256);
  });
});
