import { describe, expect, test } from "bun:test";
import { referenceGemmNt, referenceGemmNtRows, relativeFrobeniusError } from "../../src/quant/referenceGemm.ts";
import { quantizePerBlockReference, quantizePerTokenReference } from "../../src/quant/reference.ts";
import { decodeE4m3Array } from "../../src/tensor/fp8.ts";

describe("f64 reference GEMM NT", () => {
  test("hand-computed: 2 k-blocks, distinct scales per row, per k-block and per 128-row block of B", () => {
    const m = 2;
    const n = 130; // two B-scale rows: columns 0..127 and 128..129
    const k = 256;
    const a = new Uint8Array(m * k);
    a.fill(0x38, 0, 128); // row 0: 1.0 in k-block 0
    a.fill(0x40, 128, 256); // row 0: 2.0 in k-block 1
    a.fill(0xb8, k, 2 * k); // row 1: -1.0 everywhere
    const b = new Uint8Array(n * k);
    for (let col = 0; col < n; col++) {
      b.fill(0x38, col * k, col * k + 128); // 1.0 in k-block 0
      b.fill(0x30, col * k + 128, col * k + 256); // 0.5 in k-block 1
    }
    const sfa = Float32Array.of(0.5, 2, 1, 4); // [m, kBlocks]
    const sfb = Float32Array.of(3, 0.25, 1, 8); // [nBlocks, kBlocks]
    const d = referenceGemmNt(a, sfa, b, sfb, m, n, k);
    // Row 0, column 0: 0.5·3·(128·1·1) + 2·0.25·(128·2·0.5) = 192 + 64.
    expect(d[0]).toBe(256);
    // Row 0, column 128 (second B-scale row): 0.5·1·128 + 2·8·128 = 64 + 2048.
    expect(d[128]).toBe(2112);
    // Row 1, column 0: 1·3·(-128) + 4·0.25·(-64) = -384 - 64.
    expect(d[n]).toBe(-448);
    // Row 1, column 129: 1·1·(-128) + 4·8·(-64).
    expect(d[n + 129]).toBe(-2176);
  });

  test("rows variant equals the full product's rows; a partial last k-block counts its elements only", () => {
    const m = 5;
    const n = 9;
    const k = 150;
    const x = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.7));
    const w = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.3));
    const qa = quantizePerTokenReference(x, m, k);
    const qb = quantizePerBlockReference(w, n, k);
    const full = referenceGemmNt(qa.data, qa.scales, qb.data, qb.scales, m, n, k);
    const rows = referenceGemmNtRows([4, 1], qa.data, qa.scales, qb.data, qb.scales, m, n, k);
    expect([...rows.subarray(0, n)]).toEqual([...full.subarray(4 * n, 5 * n)]);
    expect([...rows.subarray(n)]).toEqual([...full.subarray(n, 2 * n)]);
    // Same as the plain f64 product of the dequantized operands (to rounding of the scale products).
    const da = decodeE4m3Array(qa.data);
    const db = decodeE4m3Array(qb.data);
    let ref = 0;
    for (let kk = 0; kk < k; kk++) {
      ref += da[2 * k + kk]! * qa.scales[2 * 2 + Math.floor(kk / 128)]! * db[3 * k + kk]! * qb.scales[Math.floor(kk / 128)]!;
    }
    expect(full[2 * n + 3]!).toBeCloseTo(ref, 12);
    expect(() => referenceGemmNtRows([5], qa.data, qa.scales, qb.data, qb.scales, m, n, k)).toThrow(/\[0, 5\)/);
  });

  test("relativeFrobeniusError", () => {
    expect(relativeFrobeniusError([3, 4], [3, 4])).toBe(0);
    expect(relativeFrobeniusError([3, 5], [3, 4])).toBeCloseTo(1 / 5, 15);
    expect(relativeFrobeniusError([0, 0], [0, 0])).toBe(0);
    expect(relativeFrobeniusError([1, 0], [0, 0])).toBe(Infinity);
    expect(relativeFrobeniusError([NaN, 0], [1, 0])).toBeNaN();
  });
});
