/**
 * BF16 on the host as raw 16-bit patterns: 1 sign, 8 exponent (bias 127), 7 mantissa bits.
 * Encoding rounds to nearest even (values past the largest finite round to ±Inf, as IEEE and
 * `__float2bfloat16_rn` do); NaN stays NaN, made quiet (bit 6 of the mantissa set), sign kept.
 */
import { roundMagnitude, signBitOf, type FloatFormat } from "./rounding.ts";

const BF16: FloatFormat = { mantissaBits: 7, bias: 127 };
/** Bits of +Inf. */
export const BF16_INF_BITS = 0x7f80;
/** Bits of the canonical quiet NaN. */
export const BF16_NAN_BITS = 0x7fc0;
const QUIET_BIT = 0x0040;

function encodeWithSign(x: number, negative: boolean, nanBits: number): number {
  const signBits = negative ? 0x8000 : 0;
  if (Number.isNaN(x)) return signBits | nanBits;
  const a = Math.abs(x);
  if (a === Infinity) return signBits | BF16_INF_BITS;
  return signBits | Math.min(roundMagnitude(a, BF16), BF16_INF_BITS);
}

/** Encodes `x` as BF16 bits, rounding once from its double value (to nearest, ties to even). */
export function encodeBf16(x: number): number {
  return encodeWithSign(x, signBitOf(x), BF16_NAN_BITS);
}

/** Value of BF16 bits (exact). */
export function decodeBf16(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}
const scratchBits = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);

/**
 * Encodes every element. For a Float32Array the sign and the NaN payload come from the raw bits:
 * a NaN keeps its top 7 payload bits with the quiet bit forced on, as a hardware conversion does.
 */
export function encodeBf16Array(values: Float32Array | Float64Array): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const word = bits[i]!;
      out[i] = encodeWithSign(values[i]!, word >>> 31 === 1, ((word >>> 16) & 0x7fff) | QUIET_BIT);
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = encodeBf16(values[i]!);
  }
  return out;
}

/** Decodes every element into f32 values (exact). */
export function decodeBf16Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return out;
}
