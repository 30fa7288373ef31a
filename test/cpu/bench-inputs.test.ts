import { describe, expect, test } from "bun:test";
import { denseShapes, rowConfig, sampledRows } from "../../bench/dense.ts";
import { makeDenseHostInputs, randomFp8Codes, randomScales, scaleFromWord } from "../../bench/inputs.ts";
import type { KernelConfig } from "../../src/gemm/index.ts";
import { scalesFromTmaAligned } from "../../src/quant/layout.ts";

describe("bench inputs", () => {
  test("FP8 codes never hold NaN (0x7f, 0xff) and still cover the rest of the code space", () => {
    const codes = randomFp8Codes(200_000);
    expect(codes.length).toBe(200_000);
    expect(codes.includes(0x7f) || codes.includes(0xff)).toBe(false);
    expect(new Set(codes).size).toBe(254);
  });

  test("scales are positive, finite, within [2^-9, 2^-5)", () => {
    const scales = randomScales(100_000);
    expect(scales.every((s) => s >= 2 ** -9 && s < 2 ** -5)).toBe(true);
  });

  test("the word-to-scale map keeps both ends in range as f32 (the top words used to round up to 2^-5)", () => {
    expect(scaleFromWord(0)).toBe(2 ** -9);
    const top = scaleFromWord(2 ** 32 - 1);
    expect(top).toBe(Math.fround(top));
    expect(top).toBeLessThan(2 ** -5);
    expect(Math.fround(2 ** (-9 + (4 * (2 ** 32 - 1)) / 2 ** 32))).toBe(2 ** -5);
    expect(scaleFromWord(2 ** 31)).toBe(2 ** -7);
  });

  test("dense inputs come in DESIGN §2 layouts; the aligned A scales are the logical ones transposed", () => {
    const host = makeDenseHostInputs(5, 130, 300);
    expect([host.a.length, host.b.length, host.sfaLogical.length, host.sfaAligned.length, host.sfb.length]).toEqual([
      5 * 300,
      130 * 300,
      5 * 3,
      3 * 8,
      2 * 3,
    ]);
    expect(scalesFromTmaAligned(host.sfaAligned, 5, 3)).toEqual(host.sfaLogical);
  });
});

describe("dense suite helpers", () => {
  test("DESIGN §7 shapes: M in {1, 64, 128, 4096} x six (N, K), then 8192³", () => {
    const shapes = denseShapes();
    expect(shapes).toHaveLength(25);
    expect(shapes[0]).toEqual([1, 2112, 7168]);
    expect(shapes.at(-1)).toEqual([8192, 8192, 8192]);
    expect(shapes.filter(([m]) => m === 4096)).toHaveLength(6);
  });

  test("sampled rows are the first and the last", () => {
    expect(sampledRows(1)).toEqual([0]);
    expect(sampledRows(4096)).toEqual([0, 4095]);
  });

  test("row config: stages and cluster named as in DESIGN §8, other scalar fields kept", () => {
    const config: KernelConfig = { blockM: 128, blockN: 160, numStages: 5, clusterM: 2, clusterN: 1, rasterGroupN: 8, tmaStore: true, orderedMath: false, scaleBSource: "math-staged", pipelinedPromotion: true, splitLastRound: false };
    expect(rowConfig(config)).toEqual({ blockM: 128, blockN: 160, stages: 5, cluster: 2, clusterM: 2, clusterN: 1, rasterGroupN: 8, tmaStore: true, orderedMath: false, scaleBSource: "math-staged", pipelinedPromotion: true, splitLastRound: false });
  });
});
