import { describe, expect, test } from "bun:test";
import {
  E4M3_DECODE_TABLE,
  decodeE4m3,
  decodeE4m3Array,
  encodeE4m3,
  encodeE4m3Array,
} from "../../src/tensor/fp8.ts";
import { xorshift32 } from "../support/quantData.ts";

/** Independent oracle: nearest table value by brute force, ties to the even code, saturating. */
function nearestCode(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.min(Math.abs(x), 448);
  let best = 0;
  for (let code = 1; code <= 0x7e; code++) {
    const d = Math.abs(E4M3_DECODE_TABLE[code]! - a);
    const bestD = Math.abs(E4M3_DECODE_TABLE[best]! - a);
    if (d < bestD || (d === bestD && code % 2 === 0)) best = code;
  }
  return sign | best;
}

describe("e4m3 decode", () => {
  test("hand-checked codes", () => {
    const cases: Array<[number, number]> = [
      [0x00, 0],
      [0x01, 2 ** -9],
      [0x07, 7 * 2 ** -9],
      [0x08, 2 ** -6],
      [0x0f, 1.875 * 2 ** -6],
      [0x30, 0.5],
      [0x38, 1],
      [0x39, 1.125],
      [0x40, 2],
      [0x46, 3.5],
      [0x78, 256],
      [0x7d, 416],
      [0x7e, 448],
      [0xb8, -1],
      [0xfe, -448],
      [0x81, -(2 ** -9)],
    ];
    for (const [code, value] of cases) expect(decodeE4m3(code)).toBe(value);
    expect(Object.is(decodeE4m3(0x80), -0)).toBe(true);
    expect(decodeE4m3(0x7f)).toBeNaN();
    expect(decodeE4m3(0xff)).toBeNaN();
  });

  test("all 256 codes: NaN only at 0x7f/0xff, positives strictly increasing, negatives mirror", () => {
    const nanCodes = [...E4M3_DECODE_TABLE.keys()].filter((c) => Number.isNaN(E4M3_DECODE_TABLE[c]!));
    expect(nanCodes).toEqual([0x7f, 0xff]);
    for (let code = 1; code <= 0x7e; code++) {
      expect(E4M3_DECODE_TABLE[code]!).toBeGreaterThan(E4M3_DECODE_TABLE[code - 1]!);
      expect(E4M3_DECODE_TABLE[code | 0x80]!).toBe(-E4M3_DECODE_TABLE[code]!);
    }
    // Each code equals the textbook formula, computed here from the bit fields.
    for (let code = 0; code < 0x7f; code++) {
      const e = code >> 3;
      const m = code & 7;
      const expected = e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
      expect(E4M3_DECODE_TABLE[code]!).toBe(expected);
    }
  });

  test("bulk decode matches the table", () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const values = decodeE4m3Array(codes);
    for (let i = 0; i < 256; i++) expect(Object.is(values[i], E4M3_DECODE_TABLE[i])).toBe(true);
  });
});

describe("e4m3 encode", () => {
  test("encode(decode(c)) == c for every non-NaN code", () => {
    for (let code = 0; code < 256; code++) {
      if (code === 0x7f || code === 0xff) continue;
      expect(encodeE4m3(decodeE4m3(code))).toBe(code);
    }
  });

  test("midpoints between adjacent codes round to the even mantissa; just off them to the nearest", () => {
    for (let code = 0; code < 0x7e; code++) {
      const lo = E4M3_DECODE_TABLE[code]!;
      const hi = E4M3_DECODE_TABLE[code + 1]!;
      const mid = (lo + hi) / 2;
      const even = code % 2 === 0 ? code : code + 1;
      expect(encodeE4m3(mid)).toBe(even);
      expect(encodeE4m3(-mid)).toBe(even | 0x80);
      const eps = (hi - lo) * 2 ** -20;
      expect(encodeE4m3(mid - eps)).toBe(code);
      expect(encodeE4m3(mid + eps)).toBe(code + 1);
    }
  });

  test("hand-checked ties", () => {
    expect(encodeE4m3(1.0625)).toBe(0x38); // between 1 (m=0) and 1.125 (m=1)
    expect(encodeE4m3(1.1875)).toBe(0x3a); // between 1.125 (m=1) and 1.25 (m=2)
    expect(encodeE4m3(432)).toBe(0x7e); // between 416 (m=5) and 448 (m=6)
    expect(encodeE4m3(2 ** -10)).toBe(0x00); // half the smallest subnormal
    expect(encodeE4m3(3 * 2 ** -10)).toBe(0x02); // between subnormals 1 and 2
    expect(encodeE4m3(7.5 * 2 ** -9)).toBe(0x08); // between the largest subnormal and 2^-6
  });

  test("saturation: >448 and ±Inf go to ±448", () => {
    for (const x of [448, 449, 463.99, 464, 480, 1e9, Number.MAX_VALUE, Infinity]) {
      expect(encodeE4m3(x)).toBe(0x7e);
      expect(encodeE4m3(-x)).toBe(0xfe);
    }
  });

  test("subnormal rounding and signed zero", () => {
    expect(encodeE4m3(2 ** -9)).toBe(0x01);
    expect(encodeE4m3(1.4 * 2 ** -9)).toBe(0x01);
    expect(encodeE4m3(1.6 * 2 ** -9)).toBe(0x02);
    expect(encodeE4m3(5.5 * 2 ** -9)).toBe(0x06);
    expect(encodeE4m3(2 ** -11)).toBe(0x00);
    expect(encodeE4m3(-(2 ** -11))).toBe(0x80);
    expect(encodeE4m3(0)).toBe(0x00);
    expect(encodeE4m3(-0)).toBe(0x80);
    expect(encodeE4m3(1e-30)).toBe(0x00);
  });

  test("NaN keeps its sign: scalar NaN → 0x7f, bulk f32 NaN bits with sign → 0xff", () => {
    expect(encodeE4m3(NaN)).toBe(0x7f);
    const words = Uint32Array.of(0x7fc00000, 0xffc00000, 0x7f800001, 0xff800000, 0x80000000);
    const codes = encodeE4m3Array(new Float32Array(words.buffer));
    expect([...codes]).toEqual([0x7f, 0xff, 0x7f, 0xfe, 0x80]);
  });

  test("matches a brute-force nearest-value oracle on random f32 values", () => {
    const next = xorshift32(12345);
    const words = new Uint32Array(20000);
    for (let i = 0; i < words.length; i++) {
      // Exponents spread over the e4m3 range and a bit beyond: 2^-12 .. 2^10.
      const exponent = 127 - 12 + (next() % 23);
      words[i] = ((next() & 1) << 31) | (exponent << 23) | (next() & 0x7fffff);
    }
    const values = new Float32Array(words.buffer);
    const codes = encodeE4m3Array(values);
    const f64 = encodeE4m3Array(Float64Array.from(values));
    for (let i = 0; i < values.length; i++) {
      expect(codes[i]).toBe(nearestCode(values[i]!));
      expect(f64[i]).toBe(codes[i]!);
    }
  });
});
