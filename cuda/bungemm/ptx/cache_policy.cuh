// L2 eviction-priority policies for the cache-hinted loads and stores (createpolicy, sm_80+).
// Data a kernel touches once (a small-M GEMM's weights, a cast's input and output) is marked
// evict-first, so streaming it through L2 displaces it before anything that may be used again:
// operands re-read by other CTAs, and other kernels' lines (among them lines not yet written back,
// whose eviction would cost this kernel DRAM write bandwidth).
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

__device__ __forceinline__ uint64_t l2_policy_evict_first() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

}  // namespace bungemm::ptx
