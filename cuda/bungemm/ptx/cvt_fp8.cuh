// FP8 e4m3 conversions (sm_89+): f32 -> e4m3 with round-to-nearest-even and saturation, e4m3 -> f32.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

// Four f32 -> four e4m3 codes packed little-endian (`a` at the lowest address).
// `cvt.rn.satfinite` rounds to nearest even, keeps subnormals, maps |x| > 448 and ±Inf to ±448 and
// NaN to a NaN code. NOTES: the sign of that NaN code is not pinned down by PTX, and bungemm's
// quantizers always write 0x7f (docs/quantization.md), so NaN bytes get their sign cleared: the
// NaN codes are exactly the bytes whose low 7 bits are all ones (0x7f, 0xff).
__device__ __forceinline__ uint32_t e4m3x4_from_f32(float a, float b, float c, float d) {
  uint16_t lo, hi;
  // The first source lands in the upper byte.
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(lo) : "f"(b), "f"(a));
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(hi) : "f"(d), "f"(c));
  const uint32_t codes = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  // Bytes with low 7 bits 0x7f carry into bit 7 when 1 is added; no other byte reaches bit 7.
  const uint32_t nan_bytes = ((codes & 0x7f7f7f7fu) + 0x01010101u) & 0x80808080u;
  return codes & ~nan_bytes;
}

// Two e4m3 codes (low byte first) -> two exact f32 values, through f16 (e4m3 is a subset of f16).
__device__ __forceinline__ void e4m3x2_to_f32(uint16_t codes, float& lo, float& hi) {
  uint32_t halves;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(halves) : "h"(codes));
  const uint16_t lo_bits = static_cast<uint16_t>(halves & 0xffffu);
  const uint16_t hi_bits = static_cast<uint16_t>(halves >> 16);
  asm("cvt.f32.f16 %0, %1;" : "=f"(lo) : "h"(lo_bits));
  asm("cvt.f32.f16 %0, %1;" : "=f"(hi) : "h"(hi_bits));
}

}  // namespace bungemm::ptx
