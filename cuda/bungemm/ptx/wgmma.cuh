// Warpgroup MMA plumbing: shared-memory descriptors, fences, commit/wait. The per-N instruction
// wrappers are generated into wgmma_fp8.cuh by scripts/gen-wgmma.ts.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

// Descriptor of a K-major tile whose rows are 128 bytes, written by TMA with 128-byte swizzle:
// 8 rows form a 1024-byte swizzle atom, so the stride between 8-row groups (SBO) is 1024 bytes;
// the leading offset (LBO) is unused for swizzled K-major layouts. The tile must be 1024-byte
// aligned so the descriptor's base-offset field stays 0.
__device__ __forceinline__ uint64_t make_sw128_kmajor_desc(const void* tile) {
  constexpr uint64_t kStrideBytes = 1024;
  constexpr uint64_t kSwizzle128B = 1;
  uint64_t desc = 0;
  desc |= static_cast<uint64_t>((smem_u32(tile) & 0x3FFFF) >> 4);
  desc |= static_cast<uint64_t>(1) << 16;
  desc |= (kStrideBytes >> 4) << 32;
  desc |= kSwizzle128B << 62;
  return desc;
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }

template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
}

// Keeps the compiler from moving accumulator reads/writes across the asynchronous MMA.
__device__ __forceinline__ void fence_operand(float& reg) { asm volatile("" : "+f"(reg)::"memory"); }

}  // namespace bungemm::ptx
