/**
 * Round-to-nearest-even of a double onto a small binary floating-point format, shared by the
 * FP8 (e4m3) and BF16 encoders so that both round by the same, exhaustively tested rule.
 *
 * The result is the format's unsigned magnitude code: (biased exponent << mantissaBits) | mantissa.
 * Codes are monotone in the value and continuous across the subnormal/normal boundary and across
 * exponents, so a mantissa that rounds up past its top simply carries into the exponent field.
 * Callers handle sign, NaN, and what happens past the largest finite value (saturate or Inf).
 */

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
// Little-endian hosts (x86-64, aarch64): word 1 holds sign, exponent and the top of the mantissa.
const HIGH_WORD = 1;

/** Unbiased binary exponent of a positive, finite, normal double: floor(log2(a)), exactly. */
function exponentOf(a: number): number {
  scratch[0] = a;
  return ((scratchWords[HIGH_WORD]! >>> 20) & 0x7ff) - 1023;
}

/** True when the sign bit of `x` is set (also for -0 and for NaN payloads that carry it). */
export function signBitOf(x: number): boolean {
  scratch[0] = x;
  return scratchWords[HIGH_WORD]! >>> 31 === 1;
}

/** Round-half-to-even of a non-negative double to an integer. */
function roundHalfEven(n: number): number {
  const floor = Math.floor(n);
  const frac = n - floor; // exact: n < 2^53
  if (frac > 0.5) return floor + 1;
  if (frac < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Shape of a binary floating-point format: mantissa (fraction) bits and exponent bias. */
export interface FloatFormat {
  mantissaBits: number;
  bias: number;
}

/**
 * Magnitude code of `a` (finite, >= 0) rounded to nearest-even in `format`. The code may exceed
 * the format's largest finite code; the caller decides between saturation and infinity.
 * Multiplying by powers of two is exact here (no overflow or underflow for the formats used),
 * so the only rounding is the explicit one.
 */
export function roundMagnitude(a: number, format: FloatFormat): number {
  const { mantissaBits, bias } = format;
  const minNormalExponent = 1 - bias;
  if (a < 2 ** minNormalExponent) {
    // Subnormal range: one quantum is 2^(minNormalExponent - mantissaBits). A result of
    // 2^mantissaBits is exactly the code of the smallest normal number.
    return roundHalfEven(a * 2 ** (mantissaBits - minNormalExponent));
  }
  const exponent = exponentOf(a);
  const significand = roundHalfEven(a * 2 ** (mantissaBits - exponent)); // in [2^m, 2^(m+1)]
  return ((exponent + bias) << mantissaBits) + (significand - (1 << mantissaBits));
}
