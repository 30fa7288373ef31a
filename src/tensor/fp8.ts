/**
 * FP8 E4M3 ("e4m3fn") on the host: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits, no
 * infinities, NaN = S.1111.111 (0x7f, 0xff), largest finite 448 (0x7e), smallest subnormal 2^-9.
 *
 * Encoding policy (the GPU quantizers follow it bit for bit, see docs/quantization.md):
 * - finite values round to nearest, ties to even mantissa; subnormals are exact;
 * - magnitudes above 448 (after rounding) and ±Inf saturate to ±448 (0x7e / 0xfe),
 *   as PTX `cvt.rn.satfinite.e4m3x2.f32` does;
 * - NaN encodes to NaN keeping its sign bit (0x7f, or 0xff when the sign bit is set);
 * - -0 encodes to 0x80.
 */
import { roundMagnitude, signBitOf, type FloatFormat } from "./rounding.ts";

/** Largest finite e4m3 value. */
export const E4M3_MAX = 448;
/** Code of +448, the largest finite magnitude. */
export const E4M3_MAX_CODE = 0x7e;
/** Code of the positive NaN (0xff is the negative one). */
export const E4M3_NAN_CODE = 0x7f;

const E4M3: FloatFormat = { mantissaBits: 3, bias: 7 };

function decodeCode(code: number): number {
  const sign = code & 0x80 ? -1 : 1;
  const exponentField = (code >>> 3) & 0xf;
  const mantissa = code & 0x7;
  if (exponentField === 0xf && mantissa === 0x7) return NaN;
  if (exponentField === 0) return sign * mantissa * 2 ** -9;
  return sign * (1 + mantissa / 8) * 2 ** (exponentField - 7);
}

/** Every e4m3 code's value (all exactly representable in f32). Index = code. */
export const E4M3_DECODE_TABLE: Float32Array = Float32Array.from({ length: 256 }, (_, code) => decodeCode(code));

/** Value of one e4m3 code (0..255). */
export function decodeE4m3(code: number): number {
  return E4M3_DECODE_TABLE[code & 0xff]!;
}

function encodeWithSign(x: number, negative: boolean): number {
  const signBits = negative ? 0x80 : 0;
  if (Number.isNaN(x)) return signBits | E4M3_NAN_CODE;
  const a = Math.abs(x);
  // Anything above 448 rounds to 448 or to a code past it (0x7f is NaN): saturate either way.
  if (a > E4M3_MAX) return signBits | E4M3_MAX_CODE;
  return signBits | roundMagnitude(a, E4M3);
}

/**
 * Encodes `x` as an e4m3 code: round to nearest even, saturate to ±448 (±Inf too), NaN to NaN with
 * its sign. `x` is rounded once, directly from its double value.
 */
export function encodeE4m3(x: number): number {
  return encodeWithSign(x, signBitOf(x));
}

/**
 * Encodes every element. For a Float32Array the sign bit is read from the raw bits, so the sign of
 * a NaN survives even where the engine canonicalises NaNs read into JS numbers.
 */
export function encodeE4m3Array(values: Float32Array | Float64Array): Uint8Array {
  const out = new Uint8Array(values.length);
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) out[i] = encodeWithSign(values[i]!, bits[i]! >>> 31 === 1);
  } else {
    for (let i = 0; i < values.length; i++) out[i] = encodeE4m3(values[i]!);
  }
  return out;
}

/** Decodes every code into f32 values (exact). */
export function decodeE4m3Array(codes: Uint8Array): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = E4M3_DECODE_TABLE[codes[i]!]!;
  return out;
}
