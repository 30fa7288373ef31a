import { describe, expect, test } from "bun:test";
import { decodeBf16, decodeBf16Array, encodeBf16, encodeBf16Array } from "../../src/tensor/bf16.ts";

/** Independent oracle for non-NaN f32 bits: the classic integer RNE truncation. */
function bf16FromF32Bits(bits: number): number {
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

describe("bf16", () => {
  test("hand-checked values", () => {
    expect(encodeBf16(1)).toBe(0x3f80);
    expect(encodeBf16(-2)).toBe(0xc000);
    expect(encodeBf16(0)).toBe(0x0000);
    expect(encodeBf16(-0)).toBe(0x8000);
    expect(encodeBf16(2 ** -133)).toBe(0x0001); // smallest subnormal
    expect(decodeBf16(0x3f80)).toBe(1);
    expect(decodeBf16(0x4049)).toBe(3.140625);
    expect(decodeBf16(0x0001)).toBe(2 ** -133);
  });

  test("ties round to even; just past a tie rounds away", () => {
    expect(encodeBf16(1 + 2 ** -8)).toBe(0x3f80); // between 0x3f80 (even) and 0x3f81
    expect(encodeBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // between 0x3f81 and 0x3f82 (even)
    expect(encodeBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(encodeBf16(2 ** -134)).toBe(0x0000); // half the smallest subnormal
    expect(encodeBf16(3 * 2 ** -134)).toBe(0x0002);
  });

  test("Inf, overflow and NaN", () => {
    expect(encodeBf16(Infinity)).toBe(0x7f80);
    expect(encodeBf16(-Infinity)).toBe(0xff80);
    expect(encodeBf16(3.4028234663852886e38)).toBe(0x7f80); // f32 max rounds past bf16 max
    expect(encodeBf16((2 - 2 ** -7) * 2 ** 127)).toBe(0x7f7f); // bf16 max is exact
    expect(encodeBf16(NaN)).toBe(0x7fc0);
    const words = Uint32Array.of(0x7f800001, 0xffc12345, 0x7fc00000);
    expect([...encodeBf16Array(new Float32Array(words.buffer))]).toEqual([0x7fc0, 0xffc1, 0x7fc0]);
    expect(decodeBf16(0x7fc0)).toBeNaN();
  });

  test("every non-NaN bf16 pattern round-trips", () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const values = decodeBf16Array(bits);
    const back = encodeBf16Array(values);
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (!isNaN) expect(back[i]).toBe(i);
      else expect(back[i]! & 0x40).toBe(0x40);
    }
  });

  test("matches the integer-RNE oracle on random f32 bit patterns", () => {
    let s = 987654321;
    const words = new Uint32Array(50000);
    for (let i = 0; i < words.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      words[i] = s;
    }
    const values = new Float32Array(words.buffer);
    const out = encodeBf16Array(values);
    for (let i = 0; i < words.length; i++) {
      if (Number.isNaN(values[i])) continue;
      expect(out[i]).toBe(bf16FromF32Bits(words[i]!));
      expect(encodeBf16(values[i]!)).toBe(out[i]!);
    }
  });
});
