import { describe, expect, test } from "bun:test";
import type { BenchRow } from "../../bench/record.ts";
import { DESIGN_DENSE, DESIGN_MASKED, renderSameCard, sameCardSummary } from "../../bench/sameCard.ts";

function dense(m: number, n: number, k: number, us: number, cublasUs: number | null): BenchRow {
  return {
    kind: "dense",
    m,
    n,
    k,
    groups: 1,
    us,
    tflops: (2 * m * n * k) / (us * 1e6),
    gbps: 1,
    vsCublasLt: cublasUs === null ? null : cublasUs / us,
    vsCublasLtBlock: null,
    relError: 1e-3,
    config: null,
    ...(cublasUs === null ? {} : { baselines: { cublasLt: { us: cublasUs, relError: null } } }),
  };
}

function masked(g: number, expectedM: number, n: number, k: number, tflops: number): BenchRow {
  return { kind: "masked", m: expectedM, n, k, groups: g, us: 50, tflops, gbps: 1, vsCublasLt: null, vsCublasLtBlock: null, relError: 1e-3, config: null };
}

describe("DESIGN §6 carried over to this run's card", () => {
  test("the tables hold §6's rows (spot checks against DESIGN.md)", () => {
    expect(DESIGN_DENSE).toHaveLength(19);
    expect(DESIGN_DENSE.find(([m, n, k]) => m === 4096 && n === 4096 && k === 7168)).toEqual([4096, 4096, 7168, 165.2, 164.7]);
    expect(DESIGN_DENSE.find(([m, n, k]) => m === 64 && n === 7168 && k === 2048)).toEqual([64, 7168, 2048, 7.8, 8.3]);
    expect(DESIGN_MASKED.map((r) => r[4])).toEqual([1099, 1081, 886, 1000, 907, 802]);
  });

  test("card factor from the M >= 4096 rows only; masked and dense ratios through it", () => {
    // cuBLASLt here takes twice §6's time on both large rows: factor 0.5. The M = 64 row (ten times
    // §6's) must not move it.
    const rows = [
      dense(4096, 4096, 7168, 330.4, 2 * 164.7),
      dense(8192, 8192, 8192, 735.0, 2 * 735.0),
      dense(64, 7168, 2048, 39.0, 83.0),
      masked(2, 512, 4096, 7168, 540.5),
      masked(4, 256, 7168, 2048, 0.95 * 802 * 0.5),
    ];
    const s = sameCardSummary(rows);
    expect(s.cardFactor).toBeCloseTo(0.5, 12);
    expect(s.cardFactorRows).toBe(2);
    // DeepGEMM here ≈ 165.2 × 2 = 330.4 µs, ours 330.4: even.
    expect(s.dense.find((r) => r.m === 4096)?.ratio).toBeCloseTo(1, 12);
    // 8192³: 750 × 2 / 735.
    expect(s.dense.find((r) => r.m === 8192)?.ratio).toBeCloseTo(1500 / 735, 12);
    // M = 64 through its own cuBLASLt time: 7.8 × (83 / 8.3) / 39 = 2.
    expect(s.dense.find((r) => r.m === 64)?.ratio).toBeCloseTo(2, 12);
    expect(s.masked).toEqual([
      { m: 512, n: 4096, k: 7168, groups: 2, ratio: expect.closeTo(1, 12) },
      { m: 256, n: 7168, k: 2048, groups: 4, ratio: expect.closeTo(0.95, 12) },
    ]);
    const text = renderSameCard(s).join("\n");
    expect(text).toContain("= 0.500 (geomean over 2 rows with M ≥ 4096)");
    expect(text).toContain("(2, 512) 4096×7168 1.00");
    expect(text).toContain("(4, 256) 7168×2048 0.95");
  });

  test("a row without its baseline time falls back to ratio × ours", () => {
    const row = dense(4096, 4096, 7168, 100, null);
    row.vsCublasLt = 1.647; // cuBLASLt 164.7 µs: exactly §6's
    const s = sameCardSummary([row]);
    expect(s.cardFactor).toBeCloseTo(1, 12);
    expect(s.dense[0]?.ratio).toBeCloseTo(1.652, 12);
  });

  test("no cuBLASLt rows: no factor, no masked comparison, nothing rendered", () => {
    const s = sameCardSummary([dense(4096, 4096, 7168, 100, null), masked(1, 1024, 4096, 7168, 1000)]);
    expect(s.cardFactor).toBeNull();
    expect(s.masked).toEqual([]);
    expect(renderSameCard(s)).toEqual([]);
  });
});
