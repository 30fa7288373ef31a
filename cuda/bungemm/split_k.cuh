// Fix-up of a tile whose k-blocks were split across CTAs (the last round of dense and masked layouts, see
// scheduler.cuh): every part stores its promoted FP32 accumulators to its own workspace slot and
// counts itself in on the tile's counter; the part that arrives last sums all parts in part order
// (0, 1, ...; its own read back too) and runs the normal epilogue. Nobody waits for anybody, and
// the sum does not depend on which part came last, so results are deterministic.
//
// Workspace (sized by the host for the grid, cuda/bungemm/fp8_gemm.cuh kSplitSlotFloats):
//   [grid CTAs] slots of kNumAccum / 4 x kNumMathThreads float4 (slot of part q of left-over tile t:
//   t * parts + q, fewer than the grid's CTAs), then [grid CTAs] u32 counters, zero between launches:
//   the last arriver's atomicInc wraps its tile's counter back to 0, so CUDA-graph replays need no reset.
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/sync.cuh>
#include <bungemm/scheduler.cuh>

namespace bungemm::split_k {

using bungemm::kMaxSplitParts;

// Thread `tid`'s accumulator j * 4 .. j * 4 + 3 of a slot: consecutive threads, consecutive float4s.
template <uint32_t kNumMathThreads>
__device__ __forceinline__ float4* chunk(float* slot, uint32_t j, uint32_t tid) {
  return reinterpret_cast<float4*>(slot) + j * kNumMathThreads + tid;
}

// accum = part 0 + part 1 + ... + part (kParts - 1), in that order, read from the workspace.
template <uint32_t kParts, uint32_t kNumAccum, uint32_t kNumMathThreads>
__device__ __forceinline__ void sum_parts(const float* first, float* accum, uint32_t tid) {
  constexpr uint32_t kSlotFloats = kNumAccum * kNumMathThreads;
  #pragma unroll
  for (uint32_t j = 0; j < kNumAccum / 4; ++j) {
    float4 sum = __ldcg(chunk<kNumMathThreads>(const_cast<float*>(first), j, tid));
    #pragma unroll
    for (uint32_t q = 1; q < kParts; ++q) {
      const float4 v = __ldcg(chunk<kNumMathThreads>(const_cast<float*>(first) + q * kSlotFloats, j, tid));
      sum.x += v.x, sum.y += v.y, sum.z += v.z, sum.w += v.w;
    }
    accum[4 * j] = sum.x, accum[4 * j + 1] = sum.y, accum[4 * j + 2] = sum.z, accum[4 * j + 3] = sum.w;
  }
}

// sum_parts for a run-time part count in [2, kMaxSplitParts].
template <uint32_t kNumAccum, uint32_t kNumMathThreads, uint32_t kParts = 2>
__device__ __forceinline__ void sum_parts_of(uint32_t parts, const float* first, float* accum, uint32_t tid) {
  if constexpr (kParts < kMaxSplitParts) {
    if (parts != kParts) {
      sum_parts_of<kNumAccum, kNumMathThreads, kParts + 1>(parts, first, accum, tid);
      return;
    }
  }
  sum_parts<kParts, kNumAccum, kNumMathThreads>(first, accum, tid);
}

// Returns whether this CTA holds the tile's sum in `accum` (and must store it). All math threads
// call it together; `barrier` is a named barrier of exactly those threads.
template <uint32_t kNumAccum, uint32_t kNumMathThreads>
__device__ __forceinline__ bool reduce(float* workspace, uint32_t num_slots, uint32_t split_tile, uint32_t part,
                                       uint32_t parts, float* accum, uint32_t tid, uint32_t barrier) {
  static_assert(kNumAccum % 4 == 0, "accumulators travel as float4");
  constexpr uint32_t kSlotFloats = kNumAccum * kNumMathThreads;
  float* slots = workspace;
  uint32_t* counters = reinterpret_cast<uint32_t*>(workspace + static_cast<uint64_t>(num_slots) * kSlotFloats);
  float* mine = slots + static_cast<uint64_t>(split_tile * parts + part) * kSlotFloats;
  #pragma unroll
  for (uint32_t j = 0; j < kNumAccum / 4; ++j)
    __stcg(chunk<kNumMathThreads>(mine, j, tid), make_float4(accum[4 * j], accum[4 * j + 1], accum[4 * j + 2], accum[4 * j + 3]));
  // Release: every thread's stores are ordered before the count (the CUDA guide's last-block pattern).
  __threadfence();
  ptx::named_barrier_sync(barrier, kNumMathThreads);
  bool last = true;
  if (tid == 0) last = atomicInc(counters + split_tile, parts - 1) == parts - 1;
  last = ptx::named_barrier_and(barrier, kNumMathThreads, last);
  if (!last) return false;
  __threadfence();  // acquire: the other parts' stores are visible to the loads below
  const float* first = slots + static_cast<uint64_t>(split_tile * parts) * kSlotFloats;
  // Every part, this CTA's own included, from the workspace: a fixed order with no branch between
  // the loads, so they are all in flight at once (one L2 round trip, not one per part and chunk).
  sum_parts_of<kNumAccum, kNumMathThreads>(parts, first, accum, tid);
  // The next launch's parts may reuse these slots only after this CTA exits (kernel boundary).
  return true;
}

}  // namespace bungemm::split_k
