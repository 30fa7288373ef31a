// Quantization kernels: BF16/F32 -> FP8 e4m3 + f32 scales, scale-layout transforms, dequantization.
// The policy is docs/quantization.md; src/quant/reference.ts is the bit-exact CPU twin.
//
// Per token (1x128), one strip = one row x 128 channels, handled by 8 lanes x 16 values. A warp takes
// 4 consecutive strips (k-blocks) of one row, a CTA 8 consecutive rows, and consecutive CTAs walk
// along K first. (Four rows per thread with all loads first, as the per-block cast does, measured
// no faster on [4096, 7168] and 30% slower on [128, 7168]: docs/perf-notes.md, run 13.)
//   load 16 values per lane (16-byte loads)            amax = max |x| over finite x
//   amax over the strip's 8 lanes (shfl_xor 4, 2, 1)   scale = max(amax, 1e-4) / 448   (IEEE division)
//   code = e4m3_rn_satfinite(x / scale), NaN -> 0x7f   one 16-byte store per lane
//   (x / scale correctly rounded: one __frcp_rn per lane + Markstein's correction, quotient_rn)
//   scale -> sfa[g][kb][row]: the transposed, TMA-aligned layout the GEMM reads (rows padded to 4,
//   padding written as 0).
// Per block (128x128): one CTA of 256 threads per block, 4 rows of 16 values per thread, CTA-wide amax;
// the inputs stay in registers as loaded (BF16 pairs), so a CTA needs ~half the registers and twice as
// many CTAs fit an SM to overlap one block's loads with another's stores.
// Dequantization: 16 codes per thread, f32(decode(code) * scale), stored as f32 or bf16.
//
// Every function takes addresses as u64 and sizes as u32 (the host checks that they fit), so the
// generated entries are plain forwards.
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/cvt_fp8.cuh>
#include <bungemm/ptx/vec_mem.cuh>
#include <bungemm/ptx/cache_policy.cuh>

namespace bungemm::quant {

constexpr uint32_t kThreads = 256;
constexpr uint32_t kBlock = 128;                              // channels per scale = the GEMM's k-block
constexpr uint32_t kValuesPerLane = 16;                       // one 16-byte store of e4m3 codes
constexpr uint32_t kLanesPerStrip = kBlock / kValuesPerLane;  // 8
constexpr uint32_t kScaleRowAlign = 4;                        // M_pad: 4 f32 = 16 bytes (TMA)
constexpr float kE4m3Max = 448.0f;
constexpr float kAmaxFloor = 1e-4f;  // src/quant/reference.ts AMAX_FLOOR
static_assert(kThreads % 32 == 0 && 32 % kLanesPerStrip == 0, "a strip's lanes must sit in one warp");
constexpr uint32_t kStripsPerWarp = 32 / kLanesPerStrip;  // per-token: consecutive k-blocks of one row
constexpr uint32_t kTokenRowsPerCta = kThreads / 32;     // per-token: one row per warp

enum class ScaleLayout : uint32_t {
  kPerTokenTmaAligned = 0,  // [G][ceil(K/128)][M_pad]
  kPerBlock = 1,            // [G][ceil(N/128)][ceil(K/128)]
};

__device__ __forceinline__ uint32_t aligned_rows(uint32_t m) { return ceil_div(m, kScaleRowAlign) * kScaleRowAlign; }

// |x| for finite x, 0 for NaN and ±Inf: they never become a block's amax.
__device__ __forceinline__ float finite_abs(float x) {
  const float a = fabsf(x);
  return a < __int_as_float(0x7f800000) ? a : 0.0f;  // NaN compares false
}

__device__ __forceinline__ float scale_for_amax(float amax) { return __fdiv_rn(fmaxf(amax, kAmaxFloor), kE4m3Max); }

// 16 consecutive inputs as loaded: 16 f32 words, or 8 words of two BF16 each.
template <bool kInF32>
struct Raw16 {
  uint32_t w[kInF32 ? 16 : 8];
};

template <bool kInF32>
__device__ __forceinline__ void load_raw16(const void* src, Raw16<kInF32>& raw, uint64_t l2_policy) {
  const char* bytes = static_cast<const char*>(src);
  #pragma unroll
  for (uint32_t i = 0; i < (kInF32 ? 4 : 2); ++i) {
    const ptx::U32x4 q = ptx::ld_global_nc_v4(bytes + 16 * i, l2_policy);
    raw.w[4 * i + 0] = q.x, raw.w[4 * i + 1] = q.y, raw.w[4 * i + 2] = q.z, raw.w[4 * i + 3] = q.w;
  }
}

// -> f32 (bf16 -> f32 is exact: the bits move up by 16).
template <bool kInF32>
__device__ __forceinline__ void to_f32(const Raw16<kInF32>& raw, float (&v)[kValuesPerLane]) {
  #pragma unroll
  for (uint32_t i = 0; i < kValuesPerLane; ++i) {
    if constexpr (kInF32) {
      v[i] = __uint_as_float(raw.w[i]);
    } else {
      v[i] = __uint_as_float(i % 2 == 0 ? raw.w[i / 2] << 16 : raw.w[i / 2] & 0xffff0000u);
    }
  }
}

template <bool kInF32>
__device__ __forceinline__ void load16(const void* src, float (&v)[kValuesPerLane], uint64_t l2_policy) {
  Raw16<kInF32> raw;
  load_raw16<kInF32>(src, raw, l2_policy);
  to_f32<kInF32>(raw, v);
}

__device__ __forceinline__ float amax16(const float (&v)[kValuesPerLane]) {
  float amax = 0.0f;
#pragma unroll
  for (uint32_t i = 0; i < kValuesPerLane; ++i) amax = fmaxf(amax, finite_abs(v[i]));
  return amax;
}

// max |x| over 16 values, NaN ignored (fmaxf returns the other operand) but ±Inf included: one
// FMNMX per value. When the result is finite it is amax16; +Inf says the lane holds an infinity.
__device__ __forceinline__ float abs_max16(const float (&v)[kValuesPerLane]) {
  float amax = 0.0f;
#pragma unroll
  for (uint32_t i = 0; i < kValuesPerLane; ++i) amax = fmaxf(amax, fabsf(v[i]));
  return amax;
}

// RN(x / scale) from rcp = RN(1 / scale): q = RN(x·rcp), e = RN(q·scale − x) (exact), then
// RN(q − e·rcp) (Markstein's correction), with the sign of x put back so that ±0 and quotients
// that underflow keep it. Equal to __fdiv_rn(x, scale) bit for bit for every finite x the quantizers
// see (|x| <= amax, scale = f32(max(amax, 1e-4)/448)) whose quotient and |x| are >= 2^-126 and 2^-100,
// and the same e4m3 code below that; NaN stays NaN. Not for ±Inf (the residual is NaN): lanes
// holding one take quantize16_div. Proof: test/cpu/fixtures/quantDivision.c, docs/quantization.md.
__device__ __forceinline__ float quotient_rn(float x, float scale, float rcp) {
#ifdef BUNGEMM_PROBE_QUOTIENT_BY_PRODUCT
  // bench/l2Probe.ts only: the cast with RN(x * rcp) in place of the exact quotient, to time what
  // the correction costs. Not bit-exact with the reference, never in the library's source.
  return __fmul_rn(x, rcp);
#endif
  const float q = __fmul_rn(x, rcp);
  const float e = __fmaf_rn(q, scale, -x);
  return copysignf(__fmaf_rn(-e, rcp, q), x);
}

// x / scale rounded once (through quotient_rn; no ±Inf among v), then e4m3.
__device__ __forceinline__ ptx::U32x4 quantize16(const float (&v)[kValuesPerLane], float scale, float rcp) {
  uint32_t words[4];
#pragma unroll
  for (uint32_t i = 0; i < 4; ++i) {
    words[i] = ptx::e4m3x4_from_f32(quotient_rn(v[4 * i], scale, rcp), quotient_rn(v[4 * i + 1], scale, rcp),
                                    quotient_rn(v[4 * i + 2], scale, rcp), quotient_rn(v[4 * i + 3], scale, rcp));
  }
  return {words[0], words[1], words[2], words[3]};
}

// The same codes by IEEE division (never the approximate one): for lanes that hold ±Inf.
__device__ __forceinline__ ptx::U32x4 quantize16_div(const float (&v)[kValuesPerLane], float scale) {
  uint32_t words[4];
#pragma unroll
  for (uint32_t i = 0; i < 4; ++i) {
    words[i] = ptx::e4m3x4_from_f32(__fdiv_rn(v[4 * i], scale), __fdiv_rn(v[4 * i + 1], scale),
                                    __fdiv_rn(v[4 * i + 2], scale), __fdiv_rn(v[4 * i + 3], scale));
  }
  return {words[0], words[1], words[2], words[3]};
}

// x: [G][m] rows of `x_row_stride` elements (the first k used); out: [G][m][k] e4m3;
// sfa: [G][ceil(k/128)][aligned_rows(m)] f32. k is a multiple of 16; addresses 16-byte aligned.
template <bool kInF32>
__device__ __forceinline__ void per_token_cast(uint64_t x, uint64_t out, uint64_t sfa, uint32_t m, uint32_t k,
                                               uint32_t num_groups, uint64_t x_row_stride) {
  constexpr uint32_t kInBytes = kInF32 ? 4 : 2;
  const uint32_t m_pad = aligned_rows(m);
  const uint32_t k_blocks = ceil_div(k, kBlock);
  const uint32_t k_groups = ceil_div(k_blocks, kStripsPerWarp);
  const uint32_t row_blocks = ceil_div(m_pad, kTokenRowsPerCta);
  const uint32_t k_group = blockIdx.x % k_groups;
  const uint32_t g = blockIdx.x / k_groups / row_blocks;
  const uint32_t row = blockIdx.x / k_groups % row_blocks * kTokenRowsPerCta + threadIdx.x / 32;
  const uint32_t kb = k_group * kStripsPerWarp + threadIdx.x % 32 / kLanesPerStrip;
  // A strip's 8 lanes leave together, so the shuffles below never wait on an exited lane.
  if (g >= num_groups || row >= m_pad || kb >= k_blocks) return;
  const uint32_t lane_in_strip = threadIdx.x % kLanesPerStrip;
  const uint32_t col = kb * kBlock + lane_in_strip * kValuesPerLane;
  const bool active = row < m && col < k;  // padding rows and the tail of a partial k-block
  const uint64_t stream = ptx::l2_policy_evict_first();  // input and codes are touched once

  float v[kValuesPerLane];
  float amax = 0.0f;
  bool has_inf = false;
  const uint64_t global_row = static_cast<uint64_t>(g) * m + row;
  if (active) {
    load16<kInF32>(reinterpret_cast<const void*>(x + (global_row * x_row_stride + col) * kInBytes), v, stream);
    amax = abs_max16(v);
    has_inf = amax == __int_as_float(0x7f800000);
    if (has_inf) amax = amax16(v);  // rare: the finite amax
  }
  const uint32_t strip_mask = 0xffu << (threadIdx.x % 32 / kLanesPerStrip * kLanesPerStrip);
#pragma unroll
  for (uint32_t offset = kLanesPerStrip / 2; offset > 0; offset /= 2) {
    amax = fmaxf(amax, __shfl_xor_sync(strip_mask, amax, offset));
  }
  const float scale = row < m ? scale_for_amax(amax) : 0.0f;
  if (lane_in_strip == 0) reinterpret_cast<float*>(sfa)[(g * k_blocks + kb) * m_pad + row] = scale;
  if (active) {
    const ptx::U32x4 codes = has_inf ? quantize16_div(v, scale) : quantize16(v, scale, __frcp_rn(scale));
    ptx::st_global_v4(reinterpret_cast<void*>(out + global_row * k + col), codes, stream);
  }
}

// x: [G][n] rows of `x_row_stride` elements; out: [G][n][k] e4m3; sfb: [G][ceil(n/128)][ceil(k/128)].
// One CTA per 128x128 block (blockIdx.x is the block's index in sfb).
template <bool kInF32>
__device__ __forceinline__ void per_block_cast(uint64_t x, uint64_t out, uint64_t sfb, uint32_t n, uint32_t k,
                                               uint32_t num_groups, uint64_t x_row_stride) {
  constexpr uint32_t kInBytes = kInF32 ? 4 : 2;
  constexpr uint32_t kRowsPerPass = kThreads / kLanesPerStrip;  // 32
  constexpr uint32_t kPasses = kBlock / kRowsPerPass;           // 4
  constexpr uint32_t kWarps = kThreads / 32;
  const uint32_t n_blocks = ceil_div(n, kBlock);
  const uint32_t k_blocks = ceil_div(k, kBlock);
  const uint32_t kb = blockIdx.x % k_blocks;
  const uint32_t nb = blockIdx.x / k_blocks % n_blocks;
  const uint32_t g = blockIdx.x / k_blocks / n_blocks;
  const uint32_t col = kb * kBlock + threadIdx.x % kLanesPerStrip * kValuesPerLane;
  const uint32_t first_row = nb * kBlock + threadIdx.x / kLanesPerStrip;

  const uint64_t stream = ptx::l2_policy_evict_first();  // input and codes are touched once
  Raw16<kInF32> raw[kPasses];
#pragma unroll
  for (uint32_t p = 0; p < kPasses; ++p) {
    const uint32_t row = first_row + p * kRowsPerPass;
    if (row < n && col < k) {
      const uint64_t global_row = static_cast<uint64_t>(g) * n + row;
      load_raw16<kInF32>(reinterpret_cast<const void*>(x + (global_row * x_row_stride + col) * kInBytes), raw[p], stream);
    }
  }
  // This thread's amax over its rows, with one of the two 16-value reductions below.
  auto thread_amax = [&](auto amax_of_16) {
    float a = 0.0f;
#pragma unroll
    for (uint32_t p = 0; p < kPasses; ++p) {
      if (first_row + p * kRowsPerPass < n && col < k) {
        float v[kValuesPerLane];
        to_f32<kInF32>(raw[p], v);
        a = fmaxf(a, amax_of_16(v));
      }
    }
    return a;
  };
  float amax = thread_amax([](const float (&v)[kValuesPerLane]) { return abs_max16(v); });
  // ±Inf in this thread's values: the finite amax, and IEEE division for the cast below (rare).
  const bool has_inf = amax == __int_as_float(0x7f800000);
  if (has_inf) amax = thread_amax([](const float (&v)[kValuesPerLane]) { return amax16(v); });
#pragma unroll
  for (uint32_t offset = 16; offset > 0; offset /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  __shared__ float warp_amax[kWarps];
  if (threadIdx.x % 32 == 0) warp_amax[threadIdx.x / 32] = amax;
  __syncthreads();
#pragma unroll
  for (uint32_t w = 0; w < kWarps; ++w) amax = fmaxf(amax, warp_amax[w]);
  const float scale = scale_for_amax(amax);
  const float rcp = __frcp_rn(scale);
  if (threadIdx.x == 0) reinterpret_cast<float*>(sfb)[blockIdx.x] = scale;
#pragma unroll
  for (uint32_t p = 0; p < kPasses; ++p) {
    const uint32_t row = first_row + p * kRowsPerPass;
    if (row < n && col < k) {
      const uint64_t global_row = static_cast<uint64_t>(g) * n + row;
      float v[kValuesPerLane];
      to_f32<kInF32>(raw[p], v);
      const ptx::U32x4 codes = has_inf ? quantize16_div(v, scale) : quantize16(v, scale, rcp);
      ptx::st_global_v4(reinterpret_cast<void*>(out + global_row * k + col), codes, stream);
    }
  }
}

// data: [G][rows][k] e4m3 (k a multiple of 16); scales in `kLayout`; out: [G][rows][k] f32 or bf16.
template <ScaleLayout kLayout, bool kOutF32>
__device__ __forceinline__ void dequantize(uint64_t data, uint64_t scales, uint64_t out, uint32_t rows, uint32_t k,
                                           uint32_t num_groups) {
  const uint32_t vecs_per_row = k / kValuesPerLane;
  const uint32_t vec = blockIdx.x * kThreads + threadIdx.x;
  if (vec >= num_groups * rows * vecs_per_row) return;
  const uint32_t global_row = vec / vecs_per_row;
  const uint32_t row = global_row % rows;
  const uint32_t g = global_row / rows;
  const uint32_t kb = vec % vecs_per_row * kValuesPerLane / kBlock;
  const uint32_t k_blocks = ceil_div(k, kBlock);
  uint32_t scale_index;
  if constexpr (kLayout == ScaleLayout::kPerTokenTmaAligned) {
    scale_index = (g * k_blocks + kb) * aligned_rows(rows) + row;
  } else {
    scale_index = (g * ceil_div(rows, kBlock) + row / kBlock) * k_blocks + kb;
  }
  const float scale = reinterpret_cast<const float*>(scales)[scale_index];
  const uint64_t stream = ptx::l2_policy_evict_first();  // codes and output are touched once
  const ptx::U32x4 q = ptx::ld_global_nc_v4(reinterpret_cast<const void*>(data + static_cast<uint64_t>(vec) * 16), stream);
  const uint32_t words[4] = {q.x, q.y, q.z, q.w};
  float f[kValuesPerLane];
#pragma unroll
  for (uint32_t i = 0; i < 4; ++i) {
    ptx::e4m3x2_to_f32(static_cast<uint16_t>(words[i] & 0xffffu), f[4 * i], f[4 * i + 1]);
    ptx::e4m3x2_to_f32(static_cast<uint16_t>(words[i] >> 16), f[4 * i + 2], f[4 * i + 3]);
  }
#pragma unroll
  for (uint32_t i = 0; i < kValuesPerLane; ++i) f[i] = __fmul_rn(f[i], scale);
  if constexpr (kOutF32) {
    char* dst = reinterpret_cast<char*>(out + static_cast<uint64_t>(vec) * kValuesPerLane * 4);
#pragma unroll
    for (uint32_t i = 0; i < 4; ++i) {
      ptx::st_global_v4(dst + 16 * i, {__float_as_uint(f[4 * i]), __float_as_uint(f[4 * i + 1]),
                                       __float_as_uint(f[4 * i + 2]), __float_as_uint(f[4 * i + 3])}, stream);
    }
  } else {
    char* dst = reinterpret_cast<char*>(out + static_cast<uint64_t>(vec) * kValuesPerLane * 2);
#pragma unroll
    for (uint32_t i = 0; i < 2; ++i) {
      ptx::st_global_v4(dst + 16 * i, {pack_bf16x2(f[8 * i], f[8 * i + 1]), pack_bf16x2(f[8 * i + 2], f[8 * i + 3]),
                                       pack_bf16x2(f[8 * i + 4], f[8 * i + 5]), pack_bf16x2(f[8 * i + 6], f[8 * i + 7])},
                        stream);
    }
  }
}

// logical: [G][m][k_blocks] -> aligned: [G][k_blocks][aligned_rows(m)], padding rows written as 0.
// One thread per aligned entry: writes coalesced; the reads are strided, but scales are ~1/128 of A.
__device__ __forceinline__ void scales_to_tma_aligned(uint64_t logical, uint64_t aligned, uint32_t m, uint32_t k_blocks,
                                                      uint32_t num_groups) {
  const uint32_t m_pad = aligned_rows(m);
  const uint32_t index = blockIdx.x * kThreads + threadIdx.x;
  if (index >= num_groups * k_blocks * m_pad) return;
  const uint32_t row = index % m_pad;
  const uint32_t kb = index / m_pad % k_blocks;
  const uint32_t g = index / m_pad / k_blocks;
  const float* src = reinterpret_cast<const float*>(logical);
  reinterpret_cast<float*>(aligned)[index] = row < m ? src[(g * m + row) * k_blocks + kb] : 0.0f;
}

// aligned: [G][k_blocks][aligned_rows(m)] -> logical: [G][m][k_blocks].
__device__ __forceinline__ void scales_from_tma_aligned(uint64_t aligned, uint64_t logical, uint32_t m,
                                                        uint32_t k_blocks, uint32_t num_groups) {
  const uint32_t index = blockIdx.x * kThreads + threadIdx.x;
  if (index >= num_groups * m * k_blocks) return;
  const uint32_t kb = index % k_blocks;
  const uint32_t row = index / k_blocks % m;
  const uint32_t g = index / k_blocks / m;
  const float* src = reinterpret_cast<const float*>(aligned);
  reinterpret_cast<float*>(logical)[index] = src[(g * k_blocks + kb) * aligned_rows(m) + row];
}

}  // namespace bungemm::quant
