/**
 * Random benchmark inputs, generated on the host once per shape: FP8 codes (never NaN) and
 * positive f32 scales, in the layouts of DESIGN §2.
 *
 * Timing does not depend on the values, but the relative-error check does, and a NaN code would
 * poison it; codes are otherwise uniform over all 254 non-NaN e4m3 values (subnormals included).
 */
import { numBlocks, scalesToTmaAligned } from "../src/quant/layout.ts";

/** crypto.getRandomValues fills at most 65536 bytes per call. */
const RANDOM_CHUNK = 65536;

/** Random bytes, filled chunk by chunk. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += RANDOM_CHUNK) {
    crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + RANDOM_CHUNK)));
  }
  return out;
}

/** Uniform random e4m3 codes with the two NaN codes (0x7f, 0xff) moved to ±448 (0x7e, 0xfe). */
export function randomFp8Codes(length: number): Uint8Array {
  const codes = randomBytes(length);
  for (let i = 0; i < codes.length; i++) {
    if ((codes[i]! & 0x7f) === 0x7f) codes[i]! -= 1;
  }
  return codes;
}

/**
 * Random positive scales in [2^-9, 2^-5): the range amax / 448 takes for activations and weights
 * of magnitude ~0.1 to ~15, so outputs stay well inside bf16's range.
 */
export function randomScales(length: number): Float32Array {
  const words = new Uint32Array(length);
  for (let offset = 0; offset < length; offset += RANDOM_CHUNK / 4) {
    crypto.getRandomValues(words.subarray(offset, Math.min(length, offset + RANDOM_CHUNK / 4)));
  }
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = scaleFromWord(words[i]!);
  return out;
}

/** The largest f32 below 2^-5. */
const SCALE_CEILING = 2 ** -5 * (1 - 2 ** -24);

/**
 * A uniform 32-bit word mapped log-uniformly onto [2^-9, 2^-5) as an f32. The f64 power for words
 * near 2^32 lies within half an f32 ulp of 2^-5 and would round up onto it, so those are held below.
 */
export function scaleFromWord(word: number): number {
  return Math.min(Math.fround(2 ** (-9 + (4 * word) / 2 ** 32)), SCALE_CEILING);
}

/** One dense problem's host data. */
export interface DenseHostInputs {
  m: number;
  n: number;
  k: number;
  /** A [M, K] e4m3 codes, row-major. */
  a: Uint8Array;
  /** B [N, K] e4m3 codes, row-major. */
  b: Uint8Array;
  /** A scales, logical [M, ceil(K/128)] (the reference reads this one). */
  sfaLogical: Float32Array;
  /** The same scales transposed and TMA-aligned: [ceil(K/128), alignedM(M)] (what the kernels read). */
  sfaAligned: Float32Array;
  /** B scales [ceil(N/128), ceil(K/128)], row-major. */
  sfb: Float32Array;
}

export function makeDenseHostInputs(m: number, n: number, k: number): DenseHostInputs {
  const kBlocks = numBlocks(k);
  const sfaLogical = randomScales(m * kBlocks);
  return {
    m,
    n,
    k,
    a: randomFp8Codes(m * k),
    b: randomFp8Codes(n * k),
    sfaLogical,
    sfaAligned: scalesToTmaAligned(sfaLogical, m, kBlocks),
    sfb: randomScales(numBlocks(n) * kBlocks),
  };
}
