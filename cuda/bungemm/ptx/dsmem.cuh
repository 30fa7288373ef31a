// Distributed shared memory: reading another CTA's shared memory inside a thread-block cluster.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm::ptx {

// The shared::cluster address of `local` (an address in this CTA's shared memory) as seen in the
// shared memory of CTA `cta_rank` of this cluster: same offset, the peer's window.
__device__ __forceinline__ uint32_t map_shared_rank(const void* local, uint32_t cta_rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(smem_u32(local)), "r"(cta_rank));
  return remote;
}

// A 32-bit load from a shared::cluster address (from map_shared_rank). Order it after the peer's
// store with a cluster barrier (cluster_sync): DSMEM loads are not coherent with anything else.
__device__ __forceinline__ uint32_t ld_shared_cluster_u32(uint32_t cluster_address) {
  uint32_t value;
  asm volatile("ld.shared::cluster.u32 %0, [%1];" : "=r"(value) : "r"(cluster_address) : "memory");
  return value;
}

}  // namespace bungemm::ptx
