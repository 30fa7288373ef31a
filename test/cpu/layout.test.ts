import { describe, expect, test } from "bun:test";
import {
  alignedM,
  numBlocks,
  scalesFromTmaAligned,
  scalesToTmaAligned,
  tmaAlignedScaleIndex,
} from "../../src/quant/layout.ts";

describe("A-scale layouts", () => {
  test("alignedM rounds up to 4 rows (16 bytes of f32)", () => {
    expect([0, 1, 3, 4, 5, 8, 4097].map(alignedM)).toEqual([0, 4, 4, 4, 8, 8, 4100]);
    expect([1, 128, 129, 7168].map(numBlocks)).toEqual([1, 1, 2, 56]);
  });

  test("hand-checked positions: logical [5, 3] → aligned [3, 8] with zero padding", () => {
    const m = 5;
    const kBlocks = 3;
    const logical = Float32Array.from({ length: m * kBlocks }, (_, i) => 10 * Math.floor(i / kBlocks) + (i % kBlocks) + 1);
    const aligned = scalesToTmaAligned(logical, m, kBlocks);
    expect(aligned.length).toBe(3 * 8);
    // Column kb holds rows 0..4 then three zeros.
    expect([...aligned.subarray(0, 8)]).toEqual([1, 11, 21, 31, 41, 0, 0, 0]);
    expect([...aligned.subarray(16, 24)]).toEqual([3, 13, 23, 33, 43, 0, 0, 0]);
    expect(aligned[tmaAlignedScaleIndex(4, 2, m, kBlocks)]).toBe(43);
    expect(tmaAlignedScaleIndex(4, 2, m, kBlocks)).toBe(20);
  });

  test("round trip, single and batched", () => {
    for (const [g, m, kBlocks] of [[1, 7, 5], [3, 6, 2], [2, 4, 1], [1, 0, 3]] as const) {
      const logical = Float32Array.from({ length: g * m * kBlocks }, (_, i) => i * 0.5 - 3);
      const aligned = scalesToTmaAligned(logical, m, kBlocks, g);
      expect(aligned.length).toBe(g * kBlocks * alignedM(m));
      expect(scalesFromTmaAligned(aligned, m, kBlocks, g)).toEqual(logical);
    }
  });

  test("batched groups are consecutive [kBlocks, M_pad] matrices", () => {
    const g = 2;
    const m = 3;
    const kBlocks = 2;
    const logical = Float32Array.from({ length: g * m * kBlocks }, (_, i) => i + 1);
    const aligned = scalesToTmaAligned(logical, m, kBlocks, g);
    expect([...aligned]).toEqual([1, 3, 5, 0, 2, 4, 6, 0, 7, 9, 11, 0, 8, 10, 12, 0]);
    expect(tmaAlignedScaleIndex(1, 1, m, kBlocks, 1)).toBe(13);
  });

  test("wrong lengths are refused", () => {
    expect(() => scalesToTmaAligned(new Float32Array(5), 2, 3)).toThrow(/length must be 6/);
    expect(() => scalesFromTmaAligned(new Float32Array(6), 2, 3)).toThrow(/length must be 12/);
  });
});
