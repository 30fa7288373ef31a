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

namespace bungemm::split_k {

// Thread `tid`'s accumulator j * 4 .. j * 4 + 3 of a slot: consecutive threads, consecutive float4s.
template <uint32_t kNumMathThreads>
__device__ __forceinline__ float4* chunk(float* slot, uint32_t j, uint32_t tid) {
  return reinterpret_cast<float4*>(slot) + j * kNumMathThreads + tid;
}

// accum = ((part 0 + part 1) + part 2) + ..., read from the workspace: the first two parts' loads
// all in flight at once, then one batch per further part (NOTES: batching more than two parts
// spilled the tightest tiles, run 30).
template <uint32_t kNumAccum, uint32_t kNumMathThreads>
__device__ __forceinline__ void sum_parts(uint32_t parts, float* slot0, float* accum, uint32_t tid) {
  constexpr uint32_t kSlotFloats = kNumAccum * kNumMathThreads;
  #pragma unroll
  for (uint32_t j = 0; j < kNumAccum / 4; ++j) {
    const float4 a = __ldcg(chunk<kNumMathThreads>(slot0, j, tid));
    const float4 b = __ldcg(chunk<kNumMathThreads>(slot0 + kSlotFloats, j, tid));
    accum[4 * j] = a.x + b.x, accum[4 * j + 1] = a.y + b.y, accum[4 * j + 2] = a.z + b.z, accum[4 * j + 3] = a.w + b.w;
  }
  #pragma unroll 1
  for (uint32_t q = 2; q < parts; ++q) {
    #pragma unroll
    for (uint32_t j = 0; j < kNumAccum / 4; ++j) {
      const float4 v = __ldcg(chunk<kNumMathThreads>(slot0 + q * kSlotFloats, j, tid));
      accum[4 * j] += v.x, accum[4 * j + 1] += v.y, accum[4 * j + 2] += v.z, accum[4 * j + 3] += v.w;
    }
  }
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
  float* first = slots + static_cast<uint64_t>(split_tile * parts) * kSlotFloats;
  // Every part, this CTA's own included, from the workspace in part order (a branch-free batch of
  // loads per step: one L2 round trip per step, not one per part and chunk).
  sum_parts<kNumAccum, kNumMathThreads>(parts, first, accum, tid);
  // The next launch's parts may reuse these slots only after this CTA exits (kernel boundary).
  return true;
}

}  // namespace bungemm::split_k
