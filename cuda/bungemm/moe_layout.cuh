// The contiguous MoE layout built on the GPU from per-expert token counts (DESIGN §2, grouped):
// expert g owns one segment of ceil(count[g] / 128) * 128 rows, segments one after another in
// expert order; a row holds its expert's id while it is one of the first count[g] rows of the
// segment, and -1 (padding) otherwise. src/gemm/moeLayout.ts `contiguousLayout` is the CPU twin.
//
//   every CTA:  padded[g] = align128(max(count[g], 0))                   (thread g, g < G <= 1024)
//               start[g]  = exclusive prefix sum of padded (64-bit: no overflow for any count)
//               for rows r of this CTA (grid-stride over [0, capacity)):
//                 g = last segment with start[g] <= r   (binary search in shared memory)
//                 m_indices[r] = (r < start[g] + count[g]) ? g : -1      (rows past the total: -1)
//   CTA 0:      segment_starts[g] = min(start[g], INT32_MAX) for g in [0, G]  (when not null)
//
// Each CTA recomputes the (tiny) scan instead of sharing it through global memory, so the whole
// build is one launch with no grid-wide synchronisation, and stays capturable in a CUDA graph.
// The host never reads the counts.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::moe {

constexpr uint32_t kThreads = 1024;    // one thread per expert in the scan: G <= 1024
constexpr uint32_t kMaxGroups = kThreads;
constexpr uint32_t kAlignment = 128;   // M_ALIGNMENT of src/gemm/groupedShapes.ts
constexpr uint32_t kWarps = kThreads / 32;
constexpr int32_t kInt32Max = 0x7fffffff;

// Inclusive sum over the CTA of one value per thread; every thread gets its own prefix.
__device__ __forceinline__ uint64_t block_inclusive_scan(uint64_t value, uint64_t* warp_totals) {
  const uint32_t lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (uint32_t offset = 1; offset < 32; offset *= 2) {
    const uint64_t other = __shfl_up_sync(0xffffffffu, value, offset);
    if (lane >= offset) value += other;
  }
  if (lane == 31) warp_totals[warp] = value;
  __syncthreads();
  if (warp == 0) {
    uint64_t total = warp_totals[lane];  // kWarps == 32: one entry per lane
#pragma unroll
    for (uint32_t offset = 1; offset < 32; offset *= 2) {
      const uint64_t other = __shfl_up_sync(0xffffffffu, total, offset);
      if (lane >= offset) total += other;
    }
    warp_totals[lane] = total;
  }
  __syncthreads();
  return warp == 0 ? value : value + warp_totals[warp - 1];
}
static_assert(kWarps == 32, "the second scan level gives one warp total per lane");

// counts: i32 [num_groups]; m_indices: i32 [capacity]; segment_starts: i32 [num_groups + 1] or 0.
__device__ __forceinline__ void contiguous_layout(uint64_t counts_addr, uint64_t m_indices_addr,
                                                  uint64_t segment_starts_addr, uint32_t num_groups,
                                                  uint32_t capacity) {
  __shared__ uint64_t warp_totals[kWarps];
  __shared__ uint64_t start[kMaxGroups + 1];  // start[G] = rows the whole layout needs
  __shared__ uint32_t count[kMaxGroups];
  const int32_t* counts = reinterpret_cast<const int32_t*>(counts_addr);
  int32_t* m_indices = reinterpret_cast<int32_t*>(m_indices_addr);
  int32_t* segment_starts = reinterpret_cast<int32_t*>(segment_starts_addr);

  const uint32_t g = threadIdx.x;
  uint32_t c = 0;
  if (g < num_groups) {
    // A negative count is no tokens. Sums are 64-bit, so any i32 counts add up exactly.
    const int32_t raw = counts[g];
    c = raw <= 0 ? 0u : static_cast<uint32_t>(raw);
    count[g] = c;
  }
  const uint64_t padded = ceil_div(c, kAlignment) * static_cast<uint64_t>(kAlignment);
  const uint64_t inclusive = block_inclusive_scan(padded, warp_totals);
  if (g < num_groups) start[g] = inclusive - padded;
  if (g == num_groups - 1) start[num_groups] = inclusive;
  __syncthreads();

  if (blockIdx.x == 0 && segment_starts != nullptr) {
    for (uint32_t i = g; i <= num_groups; i += kThreads) {
      segment_starts[i] = start[i] < static_cast<uint64_t>(kInt32Max) ? static_cast<int32_t>(start[i]) : kInt32Max;
    }
  }

  const uint64_t total = start[num_groups];
  for (uint32_t row = blockIdx.x * kThreads + g; row < capacity; row += gridDim.x * kThreads) {
    int32_t value = -1;
    if (row < total) {
      // Last group whose segment starts at or before `row` (empty segments share a start with the
      // next one, and the search skips past them to the one that owns rows).
      uint32_t lo = 0, hi = num_groups - 1;
      while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if (start[mid] <= row) lo = mid;
        else hi = mid - 1;
      }
      if (row < start[lo] + count[lo]) value = static_cast<int32_t>(lo);
    }
    m_indices[row] = value;
  }
}

}  // namespace bungemm::moe
