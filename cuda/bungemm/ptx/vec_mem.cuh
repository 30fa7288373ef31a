// 16-byte global loads and stores (one LDG.128 / STG.128 each); the address must be 16-byte aligned.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

struct alignas(16) U32x4 {
  uint32_t x, y, z, w;
};

// Read-only for the kernel's lifetime, so the non-coherent path is allowed.
__device__ __forceinline__ U32x4 ld_global_nc_v4(const void* ptr) {
  U32x4 v;
  asm("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

__device__ __forceinline__ void st_global_v4(void* ptr, const U32x4& v) {
  asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(ptr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

}  // namespace bungemm::ptx
