/**
 * Test data for the quantizers: seeded random activations with magnitudes spread over many
 * binades, and strips of special values (zeros, a huge value, NaN, ±Inf, -0, f32 subnormals, every
 * e4m3 midpoint at scale 1). Shared by the GPU tests and the benchmark.
 */
import { E4M3_DECODE_TABLE } from "../../src/tensor/fp8.ts";

/** Deterministic xorshift32: u32 values, so failures reproduce. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Deterministic uniform values in [0, 1). */
export function uniform(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32;
}

/** rows x cols f32 values: uniform in ±1, times 2^e per 64-wide run with e in [-12, 12]. */
export function randomActivations(rows: number, cols: number, seed: number): Float32Array {
  const next = uniform(seed);
  const out = new Float32Array(rows * cols);
  let magnitude = 1;
  for (let i = 0; i < out.length; i++) {
    if (i % 64 === 0) magnitude = 2 ** Math.round(next() * 24 - 12);
    out[i] = (next() * 2 - 1) * magnitude;
  }
  return out;
}

/** 448, then the 127 midpoints between adjacent positive e4m3 codes: at scale 1 they test RNE ties. */
export function midpointStrip(): Float32Array {
  const out = new Float32Array(128);
  out[0] = 448;
  for (let code = 0; code < 0x7e; code++) out[code + 1] = (E4M3_DECODE_TABLE[code]! + E4M3_DECODE_TABLE[code + 1]!) / 2;
  for (let i = 1; i < 128; i += 2) out[i] = -out[i]!; // both signs
  return out;
}

/** 128 values with every special case the policy names, besides ordinary ones. */
export function specialStrip(): Float32Array {
  const out = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) * 3);
  out[0] = NaN;
  out[1] = Infinity;
  out[2] = -Infinity;
  out[3] = -0;
  out[4] = 1e-40; // f32 subnormal
  out[5] = -1e-40;
  new Uint32Array(out.buffer)[6] = 0xffc00000; // NaN with the sign bit set
  return out;
}

/**
 * rows x cols values whose 128-wide strips cycle through: all zero, one huge value among ones,
 * special values, e4m3 midpoints at scale 1, random. cols is a multiple of 128.
 */
export function edgeCaseMatrix(rows: number, cols: number, seed: number): Float32Array {
  const out = randomActivations(rows, cols, seed);
  const strips = [
    new Float32Array(128),
    Float32Array.from({ length: 128 }, (_, i) => (i === 77 ? 3e38 : 1)),
    specialStrip(),
    midpointStrip(),
  ];
  let index = 0;
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col + 128 <= cols; col += 128) {
      const strip = strips[index++ % (strips.length + 1)];
      if (strip !== undefined) out.set(strip, row * cols + col);
    }
  }
  return out;
}

/** Index of the first differing element (bit patterns), or -1. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  // Object.is: -0 and +0 differ (the sign of zero is part of "bit for bit"); any NaN equals any NaN
  // (the payload is not: the GPU's canonical NaN and JavaScript's differ).
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}
