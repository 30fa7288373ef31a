// Bring-up kernel for thread-block clusters and distributed shared memory (DSMEM): each CTA
// reports its cluster coordinates and the value its peer put in its own shared memory.
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/dsmem.cuh>
#include <bungemm/ptx/sync.cuh>

namespace bungemm::test {

// Words each CTA writes to `out` (at blockIdx.x * kClusterRankWords).
constexpr uint32_t kClusterRankWords = 6;

// What CTA `block` puts in its shared memory; the host recomputes it (seed changes every run, so
// a stale buffer cannot pass).
__device__ __forceinline__ uint32_t cluster_token(uint32_t seed, uint32_t block) { return seed ^ (block * 0x9E3779B9u); }

// 1-D grid of 1-D clusters. out[6 * block + ...]: cta rank, cluster id, cluster count, CTAs per
// cluster, the token read from the next CTA of the cluster (rank + 1 mod size), blockIdx.x.
__device__ __forceinline__ void cluster_rank(uint32_t* out, uint32_t seed) {
  __shared__ uint32_t token;
  const uint32_t rank = ptx::cluster_cta_rank(), size = ptx::cluster_num_ctas();
  if (threadIdx.x == 0) token = cluster_token(seed, blockIdx.x);
  // Release/acquire across the cluster: the peer's store is visible after this.
  ptx::cluster_sync();
  uint32_t peer_token = 0;
  if (threadIdx.x == 0) peer_token = ptx::ld_shared_cluster_u32(ptx::map_shared_rank(&token, (rank + 1) % size));
  // A CTA's shared memory must outlive every DSMEM read of it: nobody exits before all have read.
  ptx::cluster_sync();
  if (threadIdx.x == 0) {
    uint32_t* o = out + blockIdx.x * kClusterRankWords;
    o[0] = rank;
    o[1] = ptx::cluster_id_x();
    o[2] = ptx::num_clusters_x();
    o[3] = size;
    o[4] = peer_token;
    o[5] = blockIdx.x;
  }
}

}  // namespace bungemm::test
