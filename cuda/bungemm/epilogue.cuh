// Epilogue: the promoted FP32 accumulators of one math warpgroup (64 rows x BLOCK_N) to D.
//
// TMA path (BF16): registers -> shared memory in the TMA swizzle layout -> bulk tensor store.
// The tile is cut into panels whose row is one swizzle span (64 columns = 128 B when BLOCK_N
// allows, else 32 or 16 columns); the 8 rows of one 8x8 matrix land in 8 distinct 16-byte chunks
// at the swizzled addresses, so the matrix stores are free of bank conflicts.
// Plain path: direct stores with per-element row/column checks; used for FP32 output, for
// accumulation into C, and for grouped tiles whose rows are not all real.
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/tma.cuh>
#include <bungemm/ptx/sync.cuh>

namespace bungemm {

template <uint32_t kBlockN>
struct SwizzledPanels {
  static_assert(kBlockN % 16 == 0, "the TMA-store epilogue needs BLOCK_N to be a multiple of 16");
  static constexpr uint32_t kPanelCols = kBlockN % 64 == 0 ? 64 : (kBlockN % 32 == 0 ? 32 : 16);
  static constexpr uint32_t kRowBytes = kPanelCols * 2;  // = the swizzle span: 128, 64 or 32 bytes
  static constexpr uint32_t kNumPanels = kBlockN / kPanelCols;
  static constexpr uint32_t kChunkMask = kRowBytes / 16 - 1;

  // Byte offset of (row, col) inside the [BLOCK_M x BLOCK_N] bf16 staging tile.
  __device__ __forceinline__ static uint32_t offset(uint32_t block_m, uint32_t row, uint32_t col) {
    const uint32_t panel = col / kPanelCols;
    const uint32_t linear = panel * block_m * kRowBytes + row * kRowBytes + (col % kPanelCols) * 2;
    return linear ^ (((linear >> 7) & kChunkMask) << 4);
  }
};

// Accumulator i of a thread: column (i / 4) * 8 + (lane % 4) * 2 + i % 2, row +8 when (i / 2) is odd:
// per 8-column chunk, exactly a thread's share of two 8x8 matrices of `stmatrix` (rows 0-7 and 8-15
// of the warp's 16). One stmatrix.x4 stores a 16 x 16 block (two chunks) from four registers per
// thread, lane l giving the 16-byte row address of row l % 8 of matrix l / 8: a quarter of the
// store instructions and address arithmetic of one 4-byte store per pair (run 22).
template <uint32_t kBlockM, uint32_t kBlockN>
__device__ __forceinline__ void stage_tile_bf16(uint8_t* smem_d, const float* accum, uint32_t first_row, uint32_t warp_in_wg,
                                                uint32_t lane) {
  using Panels = SwizzledPanels<kBlockN>;
  const uint32_t matrix = lane / 8;
  const uint32_t row = first_row + warp_in_wg * 16 + (matrix % 2) * 8 + lane % 8;
  #pragma unroll
  for (uint32_t j = 0; j < kBlockN / 16; ++j) {
    const float* chunk = accum + j * 8;  // chunks 2j (accumulators 0-3) and 2j + 1 (4-7)
    const uint32_t col = (2 * j + matrix / 2) * 8;
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(
                     smem_u32(smem_d + Panels::offset(kBlockM, row, col))),
                 "r"(pack_bf16x2(chunk[0], chunk[1])), "r"(pack_bf16x2(chunk[2], chunk[3])),
                 "r"(pack_bf16x2(chunk[4], chunk[5])), "r"(pack_bf16x2(chunk[6], chunk[7]))
                 : "memory");
  }
}

// The inverse of stage_tile_bf16 for the same thread: its accumulators back from the staging tile
// (ldmatrix at the very addresses its stmatrix wrote), each the BF16 value it was staged as.
template <uint32_t kBlockM, uint32_t kBlockN>
__device__ __forceinline__ void unstage_tile_bf16(const uint8_t* smem_d, float* accum, uint32_t first_row,
                                                  uint32_t warp_in_wg, uint32_t lane) {
  using Panels = SwizzledPanels<kBlockN>;
  const uint32_t matrix = lane / 8;
  const uint32_t row = first_row + warp_in_wg * 16 + (matrix % 2) * 8 + lane % 8;
  #pragma unroll
  for (uint32_t j = 0; j < kBlockN / 16; ++j) {
    const uint32_t col = (2 * j + matrix / 2) * 8;
    uint32_t r[4];
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(smem_d + Panels::offset(kBlockM, row, col)))
                 : "memory");
    #pragma unroll
    for (uint32_t q = 0; q < 4; ++q) {
      accum[j * 8 + 2 * q] = __uint_as_float(r[q] << 16);
      accum[j * 8 + 2 * q + 1] = __uint_as_float(r[q] & 0xffff0000u);
    }
  }
}

template <uint32_t kBlockM, uint32_t kBlockN>
__device__ __forceinline__ void issue_tile_store(const TmaDescriptor* tmap_d, const uint8_t* smem_d, uint32_t first_row,
                                                 uint32_t n0, uint32_t row0, uint32_t shape_n) {
  using Panels = SwizzledPanels<kBlockN>;
  #pragma unroll
  for (uint32_t p = 0; p < Panels::kNumPanels; ++p) {
    const uint32_t col = n0 + p * Panels::kPanelCols;
    if (col < shape_n)
      ptx::tma_store_2d(tmap_d, smem_d + p * kBlockM * Panels::kRowBytes + first_row * Panels::kRowBytes, col, row0);
  }
}

// Direct stores of the thread's accumulators; `row_real[h]` says whether its row h (0: r, 1: r + 8) is written.
template <uint32_t kShapeN, uint32_t kBlockN, bool kOutF32, bool kAccumulate>
__device__ __forceinline__ void store_tile_plain(void* d, const float* c, const float* accum, uint32_t row0_global,
                                                 uint32_t n0, uint32_t lane, const bool row_real[2]) {
  #pragma unroll
  for (uint32_t i = 0; i < kBlockN / 2; i += 2) {
    const uint32_t h = (i / 2) % 2;
    const uint32_t row = row0_global + 8 * h;
    const uint32_t col = n0 + (i / 4) * 8 + (lane % 4) * 2;
    if (!row_real[h] || col >= kShapeN) continue;
    const uint64_t at = static_cast<uint64_t>(row) * kShapeN + col;
    float v0 = accum[i], v1 = accum[i + 1];
    const bool pair = col + 1 < kShapeN;
    if constexpr (kAccumulate) {
      v0 += c[at];
      if (pair) v1 += c[at + 1];
    }
    if constexpr (kOutF32) {
      float* out = static_cast<float*>(d) + at;
      if (pair && kShapeN % 2 == 0) {
        *reinterpret_cast<float2*>(out) = make_float2(v0, v1);
      } else {
        out[0] = v0;
        if (pair) out[1] = v1;
      }
    } else {
      uint16_t* out = static_cast<uint16_t*>(d) + at;
      const uint32_t packed = pack_bf16x2(v0, v1);
      if (pair && kShapeN % 2 == 0) {
        *reinterpret_cast<uint32_t*>(out) = packed;
      } else {
        out[0] = static_cast<uint16_t>(packed & 0xFFFF);
        if (pair) out[1] = static_cast<uint16_t>(packed >> 16);
      }
    }
  }
}

}  // namespace bungemm
