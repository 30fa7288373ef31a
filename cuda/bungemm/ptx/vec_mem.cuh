// 16-byte global loads and stores (one LDG.128 / STG.128 each); the address must be 16-byte aligned.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

struct alignas(16) U32x4 {
  uint32_t x, y, z, w;
};

// Read-only for the kernel's lifetime, so the non-coherent path is allowed; carries an L2 eviction
// policy (ptx/cache_policy.cuh): every caller reads its data once. It may allocate in L1: the casts'
// lanes read 16 of every 32 bytes per instruction and the other half with the next one, which then
// hits L1 instead of fetching the same sectors from L2 again (per-token f32 cast +3.5%, bf16 0 to +1%;
// docs/perf-notes.md, run 37).
__device__ __forceinline__ U32x4 ld_global_nc_v4(const void* ptr, uint64_t l2_policy) {
  U32x4 v;
  asm("ld.global.nc.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(ptr), "l"(l2_policy));
  return v;
}

__device__ __forceinline__ void st_global_v4(void* ptr, const U32x4& v, uint64_t l2_policy) {
  asm volatile("st.global.L1::no_allocate.L2::cache_hint.v4.u32 [%0], {%1, %2, %3, %4}, %5;" ::"l"(ptr), "r"(v.x),
               "r"(v.y), "r"(v.z), "r"(v.w), "l"(l2_policy)
               : "memory");
}

}  // namespace bungemm::ptx
