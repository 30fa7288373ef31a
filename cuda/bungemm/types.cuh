// Own fixed-width types: kernels are compiled by NVRTC with no host headers.
#pragma once

namespace bungemm {

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;

// A CUtensorMap is 128 opaque bytes that must be 64-byte aligned; it travels as a
// __grid_constant__ kernel parameter so the TMA unit can read it from parameter space.
struct alignas(64) TmaDescriptor {
  uint64_t opaque[16];
};

template <typename T>
__host__ __device__ __forceinline__ constexpr T ceil_div(T a, T b) { return (a + b - 1) / b; }

// A read-only global load through the non-coherent path on the device; a plain load in a host
// build (the CPU tests compile the tile scheduler for the host).
__host__ __device__ __forceinline__ int32_t load_readonly(const int32_t* ptr) {
#ifdef __CUDA_ARCH__
  return __ldg(ptr);
#else
  return *ptr;
#endif
}

// Packs two floats into bf16x2 with round-to-nearest-even; `lo` lands in the low half (lower address).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t packed;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
  return packed;
}

__device__ __forceinline__ uint32_t smem_u32(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}

// Shared-memory load by shared-window address: pointers derived from the aligned dynamic base
// are generic to the compiler, which would otherwise emit slower generic loads (LD instead of LDS).
__device__ __forceinline__ float ld_shared_f32_u32(uint32_t addr) {
  float value;
  asm volatile("ld.shared.f32 %0, [%1];" : "=f"(value) : "r"(addr) : "memory");
  return value;
}

__device__ __forceinline__ float ld_shared_f32(const float* ptr) { return ld_shared_f32_u32(smem_u32(ptr)); }

}  // namespace bungemm
