// Bring-up kernel for the TMA path the GEMM relies on: one 2-D box per CTA, global -> shared with
// cp.async.bulk.tensor completing on an mbarrier (expect_tx + try_wait.parity), then written back
// three ways so the host can check each step on its own:
//   raw_out   the shared-memory bytes exactly as TMA left them (host checks the swizzle pattern),
//   copy_out  plain stores after de-swizzling in the kernel (host checks == input),
//   store_map a TMA store of the same shared tile through a map with the same swizzle (== input).
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/mbarrier.cuh>
#include <bungemm/ptx/tma.cuh>

namespace bungemm::test {

// Where TMA puts byte `col` of box row `row`. With the 128-byte swizzle the 16-byte chunk index is
// XORed with row % 8 (rows are 128 bytes; the pattern repeats every 8 rows = 1024 bytes), which is
// the layout the GEMM's WGMMA shared-memory descriptors assume.
template <uint32_t kBoxCols, bool kSwizzle128>
__device__ __forceinline__ uint32_t tile_offset(uint32_t row, uint32_t col) {
  if constexpr (kSwizzle128) {
    return row * 128u + ((((col >> 4) ^ (row & 7u)) << 4) | (col & 15u));
  } else {
    return row * kBoxCols + col;
  }
}

// Dynamic shared memory the launch must request: the tile plus slack to align it to 1024 bytes.
template <uint32_t kBoxCols, uint32_t kBoxRows>
__host__ __device__ constexpr uint32_t tma_tile_copy_smem_bytes() { return kBoxCols * kBoxRows + 1024u; }

// A matrix of `rows` x `cols` bytes; CTA (bx, by) copies the box at byte column bx * kBoxCols,
// row by * kBoxRows. Edge boxes hang over the matrix: TMA fills the outside with zeros (and still
// counts the whole box in the transaction bytes), the plain stores skip it, the TMA store clips it.
template <uint32_t kBoxCols, uint32_t kBoxRows, bool kSwizzle128>
__device__ __forceinline__ void tma_tile_copy(const TmaDescriptor* load_map, const TmaDescriptor* store_map,
                                              uint8_t* raw_out, uint8_t* copy_out, uint32_t rows, uint32_t cols) {
  static_assert(kBoxCols % 16 == 0 && kBoxCols <= 256 && kBoxRows >= 1 && kBoxRows <= 256, "TMA box limits");
  static_assert(!kSwizzle128 || kBoxCols == 128, "the 128-byte swizzle needs 128-byte box rows here");
  constexpr uint32_t kTileBytes = kBoxCols * kBoxRows;

  extern __shared__ uint8_t smem_raw[];
  __shared__ uint64_t full_bar;
  // The swizzle is a function of shared-address bits [4, 10), so the box must start on 1024 bytes
  // for "chunk ^ (row % 8)" to hold with row counted from the box's first row.
  uint8_t* tile = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);

  const uint32_t x = blockIdx.x * kBoxCols, y = blockIdx.y * kBoxRows;
  if (threadIdx.x == 0) {
    ptx::tma_prefetch_descriptor(load_map);
    ptx::mbarrier_init(&full_bar, 1);
    ptx::fence_mbarrier_init();
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    ptx::mbarrier_arrive_expect_tx(&full_bar, kTileBytes);
    ptx::tma_load_2d(tile, load_map, &full_bar, static_cast<int32_t>(x), static_cast<int32_t>(y));
  }
  ptx::mbarrier_wait(&full_bar, 0);

  uint8_t* raw = raw_out + static_cast<uint64_t>(blockIdx.y * gridDim.x + blockIdx.x) * kTileBytes;
  for (uint32_t i = threadIdx.x; i < kTileBytes; i += blockDim.x) raw[i] = tile[i];

  for (uint32_t i = threadIdx.x; i < kTileBytes; i += blockDim.x) {
    const uint32_t r = i / kBoxCols, c = i % kBoxCols;
    if (y + r < rows && x + c < cols) {
      copy_out[static_cast<uint64_t>(y + r) * cols + x + c] = tile[tile_offset<kBoxCols, kSwizzle128>(r, c)];
    }
  }

  if (threadIdx.x == 0) {
    // The tile was written by the async proxy (TMA) and is read by it again: no proxy fence needed.
    ptx::tma_store_2d(store_map, tile, static_cast<int32_t>(x), static_cast<int32_t>(y));
    ptx::tma_store_commit();
    ptx::tma_store_wait_all();
  }
}

}  // namespace bungemm::test
