import { describe, expect, test } from "bun:test";
import {
  AMAX_FLOOR,
  dequantizePerBlockReference,
  dequantizePerTokenReference,
  quantizePerBlockReference,
  quantizePerTokenReference,
} from "../../src/quant/reference.ts";
import { encodeBf16Array } from "../../src/tensor/bf16.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

const ZERO_BLOCK_SCALE = Math.fround(Math.fround(1e-4) / 448);

describe("per-token 1x128 reference quantizer", () => {
  test("a block of 1..128 gets scale 128/448 and hand-checked codes", () => {
    const x = Float32Array.from({ length: 128 }, (_, i) => i + 1);
    const { data, scales } = quantizePerTokenReference(x, 1, 128);
    expect(scales[0]).toBe(Math.fround(128 / 448));
    expect(data[0]).toBe(0x46); // 1 / (2/7) = 3.5 = 1.75 · 2^1
    expect(data[1]).toBe(0x4e); // 7 = 1.75 · 2^2
    expect(data[63]).toBe(0x76); // 64 → 224 = 1.75 · 2^7: field 7+7, mantissa 6
    expect(data[127]).toBe(0x7e); // the amax maps to 448
  });

  test("an all-zero block gets the floor scale and zero codes; -0 keeps its sign", () => {
    const x = new Float32Array(256);
    x[200] = -0;
    const { data, scales } = quantizePerTokenReference(x, 1, 256);
    expect(AMAX_FLOOR).toBe(Math.fround(1e-4));
    expect([...scales]).toEqual([ZERO_BLOCK_SCALE, ZERO_BLOCK_SCALE]);
    expect(data.filter((c) => c !== 0).length).toBe(1);
    expect(data[200]).toBe(0x80);
  });

  test("each 1x128 strip and each row has its own scale; a partial last block uses its own amax", () => {
    const m = 2;
    const k = 130;
    const x = new Float32Array(m * k);
    x[5] = 2; // row 0, block 0
    x[129] = -7; // row 0, block 1 (2 elements)
    x[k + 0] = 0.5; // row 1, block 0
    x[k + 128] = 1000; // row 1, block 1
    const { data, scales } = quantizePerTokenReference(x, m, k);
    expect([...scales]).toEqual([2 / 448, 7 / 448, 0.5 / 448, 1000 / 448].map(Math.fround));
    expect(data[5]).toBe(0x7e);
    expect(data[129]).toBe(0xfe);
    expect(data[k]).toBe(0x7e);
    expect(data[k + 128]).toBe(0x7e);
    expect(data[k + 129]).toBe(0x00);
  });

  test("NaN → 0x7f, ±Inf → ±448, and neither affects the block's scale", () => {
    const x = Float32Array.from({ length: 128 }, () => 1);
    x[0] = NaN;
    x[1] = Infinity;
    x[2] = -Infinity;
    x[3] = -4;
    x[4] = new Float32Array(new Uint32Array([0xffc00000]).buffer)[0]!; // NaN with the sign bit set
    const { data, scales } = quantizePerTokenReference(x, 1, 128);
    expect(scales[0]).toBe(Math.fround(4 / 448));
    expect([...data.subarray(0, 6)]).toEqual([0x7f, 0x7e, 0xfe, 0xfe, 0x7f, 0x6e]); // 1 → 112 = 1.75 · 2^6
  });

  test("a block without finite values falls back to the floor scale", () => {
    const x = new Float32Array(128).fill(NaN);
    x[7] = Infinity;
    const { data, scales } = quantizePerTokenReference(x, 1, 128);
    expect(scales[0]).toBe(ZERO_BLOCK_SCALE);
    expect(data[0]).toBe(0x7f);
    expect(data[7]).toBe(0x7e);
  });

  test("one huge value saturates its block's others towards zero", () => {
    const x = Float32Array.from({ length: 128 }, (_, i) => (i === 9 ? 3e38 : 1));
    const { data, scales } = quantizePerTokenReference(x, 1, 128);
    expect(scales[0]).toBe(Math.fround(3e38 / 448));
    expect(data[9]).toBe(0x7e);
    expect(data[0]).toBe(0x00);
  });

  test("BF16 input quantizes like its exact f32 values", () => {
    const x = Float32Array.from({ length: 3 * 200 }, (_, i) => Math.sin(i) * (1 + (i % 17)));
    const bits = encodeBf16Array(x);
    const viaBf16 = quantizePerTokenReference(bits, 3, 200);
    const viaF32 = quantizePerTokenReference(new Float32Array(bits.length).map((_, i) => {
      const u = new Uint32Array([bits[i]! << 16]);
      return new Float32Array(u.buffer)[0]!;
    }), 3, 200);
    expect(viaBf16.data).toEqual(viaF32.data);
    expect(viaBf16.scales).toEqual(viaF32.scales);
  });

  test("dequantize recovers values to e4m3 precision", () => {
    const m = 4;
    const k = 300;
    const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i * 0.37) * 10);
    const { data, scales } = quantizePerTokenReference(x, m, k);
    const back = dequantizePerTokenReference(data, scales, m, k);
    for (let i = 0; i < x.length; i++) {
      const scale = scales[Math.floor(i / k) * 3 + Math.floor((i % k) / 128)]!;
      // Normal e4m3 values are within 2^-4 relative; subnormal ones within half a quantum (2^-10 · scale).
      expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(Math.max(Math.abs(x[i]!) / 16, scale * 2 ** -10));
    }
  });

  test("rejects a length that does not match the shape, naming the rule", () => {
    expect(() => quantizePerTokenReference(new Float32Array(10), 2, 6)).toThrow(InvalidArgumentError);
    expect(() => quantizePerTokenReference(new Float32Array(10), 2, 6)).toThrow(/length must be the product/);
  });
});

describe("per-block 128x128 reference quantizer", () => {
  test("scales per 128x128 block, including partial edge blocks", () => {
    const n = 130;
    const k = 200;
    const x = new Float32Array(n * k);
    const put = (row: number, col: number, v: number) => (x[row * k + col] = v);
    put(0, 0, 1); // block (0, 0)
    put(127, 127, -3); // block (0, 0): amax 3
    put(5, 150, 8); // block (0, 1)
    put(128, 3, 0.25); // block (1, 0)
    put(129, 199, -16); // block (1, 1): 2 x 72 elements
    const { data, scales } = quantizePerBlockReference(x, n, k);
    expect([...scales]).toEqual([3 / 448, 8 / 448, 0.25 / 448, 16 / 448].map(Math.fround));
    expect(data[127 * k + 127]).toBe(0xfe);
    expect(data[0]).toBe(0x71); // 1 / (3/448) ≈ 149.3 → 144 = 1.125 · 2^7
    expect(data[129 * k + 199]).toBe(0xfe);
  });

  test("batched [G, N, K]: each group quantized on its own", () => {
    const g = 2;
    const n = 128;
    const k = 128;
    const x = new Float32Array(g * n * k).fill(1);
    x.fill(5, n * k);
    const { data, scales } = quantizePerBlockReference(x, n, k, g);
    expect([...scales]).toEqual([Math.fround(1 / 448), Math.fround(5 / 448)]);
    expect(data.every((c) => c === 0x7e)).toBe(true);
  });

  test("dequantize recovers values to e4m3 precision", () => {
    const n = 200;
    const k = 260;
    const x = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.11) * 3 + 4);
    const { data, scales } = quantizePerBlockReference(x, n, k);
    const back = dequantizePerBlockReference(data, scales, n, k);
    for (let i = 0; i < x.length; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) / 16);
  });
});
