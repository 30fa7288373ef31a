// FP8 GEMM with fine-grained scaling for sm_90a: D[m, n] = sum_kb sa[m, kb] * sb[n/128, kb] * (A[m, kb] . B[n, kb]).
//
// Algorithm (one persistent CTA per SM; warp-specialised):
//
//   producer warpgroup (40 registers), one elected thread:
//     for tile in scheduler:  for pass (one; one per wave when a contiguous tile holds two experts):
//       for kb in k-blocks:
//       wait empty[s]; expect_tx(full[s], bytes of A, B, sfa)
//       TMA A[tile rows, kb] -> smem_a[s]   (128-byte swizzle; multicast half each when A is shared)
//       TMA B[tile cols, kb] -> smem_b[s]   (likewise when B is shared)
//       TMA sfa[kb, tile rows] -> smem_sfa[s]
//       s = next(s)
//   math warpgroups (232 registers), each owns 64 rows of the tile:
//     for tile in scheduler:
//       final_accum = 0   (B scales: 1 or 2 scale rows per tile, staged in shared memory or read ahead)
//       for kb:  wait full[s]
//         accum = sum of 4 wgmma m64nNk32 (fresh accumulator, one 128-wide k-block)
//         release empty[s] (every CTA of the cluster: they all write into this stage)
//         final_accum += accum * sa[row] * sb[col range]      <- the promotion (two-level accumulation)
//       (pipelined promotion: kb + 1's MMAs go into a second accumulator before kb is promoted)
//       (a warpgroup whose 64 rows are all past the tile's real rows only waits and releases)
//       split part (last round, scheduler.cuh): its k-blocks only; partial sums to the workspace,
//         the tile's last part to arrive adds them up (split_k.cuh) and runs the epilogue
//       epilogue: bf16 -> swizzled smem -> TMA store, or direct stores
//
// Template constants are fixed per JIT configuration; M is a runtime argument.
#pragma once
#include <bungemm/types.cuh>
#include <bungemm/ptx/mbarrier.cuh>
#include <bungemm/ptx/sync.cuh>
#include <bungemm/ptx/tma.cuh>
#include <bungemm/ptx/cache_policy.cuh>
#include <bungemm/ptx/wgmma.cuh>
#include <bungemm/ptx/wgmma_fp8.cuh>
#include <bungemm/scheduler.cuh>
#include <bungemm/epilogue.cuh>
#include <bungemm/split_k.cuh>

namespace bungemm {

template <uint32_t kShapeN_, uint32_t kShapeK_, uint32_t kBlockM_, uint32_t kBlockN_, uint32_t kNumStages_,
          uint32_t kNumGroups_, GemmType kGemmType_, uint32_t kClusterM_, uint32_t kClusterN_, bool kOutF32_,
          bool kAccumulate_, bool kTmaStore_, uint32_t kRasterGroupN_, bool kOrderedMath_ = false, uint32_t kScaleBSource_ = 0, bool kSingleLevel_ = false,
          bool kPipelinedPromotion_ = false, bool kSplitLastRound_ = false>
struct Fp8GemmConfig {
  static constexpr uint32_t kShapeN = kShapeN_, kShapeK = kShapeK_, kBlockM = kBlockM_, kBlockN = kBlockN_;
  static constexpr uint32_t kNumStages = kNumStages_, kNumGroups = kNumGroups_, kRasterGroupN = kRasterGroupN_;
  static constexpr uint32_t kClusterM = kClusterM_, kClusterN = kClusterN_;
  static constexpr GemmType kGemmType = kGemmType_;
  static constexpr bool kOutF32 = kOutF32_, kAccumulate = kAccumulate_, kTmaStore = kTmaStore_;
  // Test-only: one tensor-core accumulator over all of K, scaled once at the end (valid only when the
  // scales do not vary along K). It shows what the promotion buys.
  static constexpr bool kSingleLevel = kSingleLevel_;
  // How a tile's B scales (1-2 rows of ceil(K/128) floats) reach shared memory, where the math
  // warpgroups read them by k-block index:
  //   1 (math-staged): copied by the math threads at each tile start (a math-wide barrier pair per
  //                    tile, and the load latency exposed);
  //   2 (producer):    copied into a 2-slot ring by the second producer warp, ahead of time, handed
  //                    over with mbarriers (no math-side latency or barrier).
  // (Reading them from global memory one k-block ahead into registers measured 5-20% slower
  // everywhere and was removed.)
  static constexpr uint32_t kScaleBSource = kScaleBSource_;
  static constexpr bool kProducerScalesB = kScaleBSource == 2;
  static constexpr uint32_t kSfbSlotFloats = (2 * ((kShapeK_ + 127) / 128) + 3) / 4 * 4;
  static constexpr uint32_t kNumSfbSlots = kProducerScalesB ? 2 : 1;
  // Math-staged B scales of pipelined (64- and 128-row) tiles: the next tile's are loaded into
  // registers before this tile's epilogue, so their global-load latency does not sit between two
  // k-loops (run 35). Not in the serial loop: 256 x 128 tiles spilled with the extra live registers.
  static constexpr bool kPrefetchSfb = !kProducerScalesB && kPipelinedPromotion_;
  // Two math warpgroups take turns issuing their k-block's WGMMAs (0, 1, 0, 1, ...), so one
  // promotes while the other's MMAs run instead of both promoting at once with the tensor cores idle.
  // (A configuration option: the free order measured 0.4-3% faster on the §7 rows, run 52.)
  // Pipelined promotion: each math warpgroup issues k-block kb + 1's MMAs into a second accumulator
  // before it waits for k-block kb's and promotes them, so its own queue never runs dry while it
  // promotes (the tensor core is not left to the other warpgroup alone). Costs a second BLOCK_N / 2
  // register accumulator, so only one wave (BLOCK_M <= 128) and staged B scales (read by index).
  static constexpr bool kPipelinedPromotion = kPipelinedPromotion_;
  // Dense and masked layouts: the left-over tiles of the last round are split along K across the
  // idle CTAs (scheduler.cuh, split_k.cuh); the partial sums go through a global workspace of
  // kSplitSlotFloats floats per CTA of the grid plus one u32 counter per CTA.
  static constexpr bool kSplitLastRound = kSplitLastRound_;
  static constexpr uint32_t kSplitSlotFloats = kBlockM_ * kBlockN_;
  // K-blocks per straight-line pipelined run: the last promotion of each run is not overlapped.
  // Whole tiles on the run-time-stage loop take runs of 8 (masked K = 2048: +0.6-1.5% over 4; runs
  // of 16 ran 5-7% slower); split parts keep runs of 4 (fewer remainder runs to compile).
  static constexpr uint32_t kPipelineRun = 4;
  static constexpr uint32_t kPipelineRunWholeTile = 8;
  static constexpr bool kOrderedMath = kOrderedMath_ && kBlockM_ >= 128 && !kPipelinedPromotion_;
  // 128-row pipelined tiles: a math warpgroup whose 64 rows are all past the tile's real rows skips
  // its MMAs and only passes the stages on. (In the serial loop the extra branch made ptxas
  // serialise the WGMMAs of 128 x 160 tiles, warning C7520; ordered math needs both warpgroups.)
  static constexpr bool kIdleEmptyWarpgroup = kBlockM_ == 128 && kPipelinedPromotion_;
  // Contiguous 256-row tiles: when the two 128-row waves belong to different experts (a segment
  // boundary at row 128 of the tile), the tile runs one pass over K per expert, each with its own
  // expert's B and B scales; a pass runs both waves' MMAs and promotes only its expert's wave.
  static constexpr bool kSplitWaves = kGemmType_ == GemmType::Contiguous && kBlockM_ == 256;
  // Two-wave dense tiles with the TMA-store epilogue stage wave 0 for the store during the last
  // k-block's wave-1 MMAs (run 23). Not below 8 k-blocks: there the previous tile's store has not
  // left the staging buffer yet when the last k-block starts (K = 512 ran 2.4% slower with it).
  // Contiguous tiles up to 32 k-blocks too (K = 2048 +0.8%, K = 7168 -0.6%: run 47).
  static constexpr bool kStageWave0Early =
      kBlockM_ == 256 && kTmaStore_ && (kShapeK_ + 127) / 128 >= 8 &&
      (kGemmType_ == GemmType::Dense || (kGemmType_ == GemmType::Contiguous && (kShapeK_ + 127) / 128 <= 32));
  static constexpr uint32_t kBlockK = 128;  // one scale block along K = one 128-byte swizzled row
  static constexpr uint32_t kNumKBlocks = (kShapeK + kBlockK - 1) / kBlockK;
  // Stage-aligned passes (128- and 256-row tiles): every pass over K starts at stage 0 and walks
  // whole rounds of kNumStages k-blocks, the last round padded with empty slots (the producer
  // arrives without a copy, the math warps hand them straight back). Stage indices are then
  // compile-time constants in the unrolled round, so a k-block's barrier, scale and descriptor
  // addresses need no arithmetic on a run-time stage index (run 27: 3-9% on the M = 4096 rows).
  // Only where the padding is at most one slot in eight k-blocks: K = 512 in 3 stages (2 of 6
  // slots empty) ran 6% slower aligned, K = 2048 in 5 pipelined stages (4 of 20) 2% slower.
  // Not with accumulation into C: 256 x 128 with 4 stages spilled 40 bytes there.
  static constexpr uint32_t kNumRounds = (kNumKBlocks + kNumStages_ - 1) / kNumStages_;
  static constexpr uint32_t kLastRoundKBlocks = kNumKBlocks - (kNumRounds - 1) * kNumStages_;
  static constexpr uint32_t kPaddingSlots = kNumRounds * kNumStages_ - kNumKBlocks;
  static constexpr bool kStageAligned = kBlockM_ >= 128 && !kAccumulate_ && kPaddingSlots * 8 <= kNumKBlocks;
  static constexpr uint32_t kNumSfbRows = (kShapeN + 127) / 128;
  // BLOCK_M = 64: one math warpgroup. 128: two, each owns 64 rows. 256: two, each owns 64 rows of
  // each of two 128-row waves (issued one after the other, sharing the B tile of the stage).
  static constexpr uint32_t kNumMathWarpgroups = kBlockM == 64 ? 1 : 2;
  static constexpr uint32_t kNumWaves = kBlockM == 256 ? 2 : 1;
  static constexpr uint32_t kWaveRows = 128;
  static constexpr uint32_t kNumMathThreads = kNumMathWarpgroups * 128;
  static constexpr uint32_t kNumThreads = kNumMathThreads + 128;
  static constexpr uint32_t kClusterSize = kClusterM * kClusterN;
  // A tile can cover two 128-row B-scale blocks only when BLOCK_N does not divide 128.
  static constexpr bool kMayStraddle = 128 % kBlockN != 0;
  // Register split (64 K registers per SM, one CTA): the TMA warpgroup needs few, the math
  // warpgroups hold two BLOCK_N/2-float accumulators each. With one math warpgroup there is room
  // to leave the producer enough for the multicast/scheduler code without spilling.
  static constexpr uint32_t kProducerRegisters = kNumMathWarpgroups == 1 ? 120 : 40;
  static constexpr uint32_t kMathRegisters = kNumMathWarpgroups == 1 ? 248 : 232;

  // The BF16 staging tile; contiguous 256-row tiles have it with or without the TMA store: wave 0's
  // sums wait out the other expert's pass there (as FP32 for FP32 outputs: 128 rows x 4 bytes = 256
  // rows x 2 bytes per column).
  static constexpr uint32_t kSmemD = kTmaStore || kSplitWaves ? kBlockM * kBlockN * 2 : 0;
  static constexpr uint32_t kSmemA = kBlockM * kBlockK;
  static constexpr uint32_t kSmemB = kBlockN * kBlockK;
  static constexpr uint32_t kSmemSfa = (kBlockM * 4 + 127) / 128 * 128;
  static constexpr uint32_t kSmemBarriers = kNumStages * 2 * 8;
  static constexpr uint32_t kSmemSfb = kNumSfbSlots * kSfbSlotFloats * 4 + (kProducerScalesB ? 32 : 0);
  // The 1024 bytes of slack let the kernel align the dynamic shared-memory base to a swizzle atom.
  static constexpr uint32_t kSmemBytes =
      1024 + (kSmemD + 1023) / 1024 * 1024 + kNumStages * (kSmemA + kSmemB + kSmemSfa) + kSmemSfb + kSmemBarriers;
  // Bytes one stage receives with full-height boxes. The host passes the exact count per launch:
  // when all of M fits in fewer rows than BLOCK_M it shrinks the A and A-scale boxes to those rows
  // (the rest of the tile holds stale data that only feeds output rows that are never stored),
  // because TMA fills out-of-bounds box rows slowly (M = 1 ran up to 1.65x slower than M = 64).
  static constexpr uint32_t kStageTxBytes = kSmemA + kSmemB + kBlockM * 4;

  static_assert(kBlockM == 64 || kBlockM == 128 || kBlockM == 256, "BLOCK_M is 64, 128 or 256");
  static_assert(kBlockN % 8 == 0 && kBlockN >= 8 && kBlockN <= 256, "BLOCK_N: a multiple of 8 in 8..256");
  static_assert(kBlockN <= 128 || (128 % kBlockN == 0) || kBlockN <= 128 + (kBlockN & -kBlockN),
                "a tile may straddle at most two 128-row B-scale blocks");
  static_assert(kShapeK % 16 == 0, "K must be a multiple of 16 (TMA row stride)");
  static_assert(kClusterSize <= 2, "clusters of at most 2 CTAs");
  static_assert(kClusterN == 1 || kBlockM % (8 * kClusterN) == 0, "each multicast half must be whole swizzle atoms");
  static_assert(kClusterM == 1 || kBlockN % (8 * kClusterM) == 0, "each multicast half must be whole swizzle atoms");
  static_assert(!kAccumulate || kOutF32, "accumulation into C is an FP32-output option");
  static_assert(!kTmaStore || !kOutF32, "the TMA-store epilogue writes BF16");
  static_assert(kScaleBSource == 1 || kScaleBSource == 2, "B scales are staged by the math threads (1) or the producer (2)");
  static_assert(!kPipelinedPromotion || (kNumWaves == 1 && !kSingleLevel),
                "pipelined promotion: one wave, two-level accumulation");
  static_assert(!kSplitLastRound || kSplitSlotFloats == kNumMathThreads * kBlockN / 2,
                "a split slot holds every math thread's accumulators");
  static_assert(!kSplitLastRound || (kGemmType != GemmType::Contiguous && kClusterSize == 1 && kNumWaves == 1),
                "the last round is split for dense and masked layouts, without clusters, with one wave");
  static_assert(kSmemBytes <= 232448, "shared memory exceeds the 227 KB a Hopper CTA may use");
};

// `v`, through an instruction the compiler may not move or drop: a loaded value used here makes the
// warp wait for its load at this point rather than wherever the value is first needed.
__device__ __forceinline__ int32_t pin_here(int32_t v) {
  int32_t out;
  asm volatile("mov.b32 %0, %1;" : "=r"(out) : "r"(v));
  return out;
}

// Where a tile's B scales are: its first scale row (of its group), whether it straddles into the
// next row, and the first column (within the tile) that uses that next row.
struct SfbCursor {
  const float* row;
  bool straddles;
  uint32_t split_col;

  // `group`: the expert whose B scales to read (a 256-row contiguous tile's wave 1 may differ).
  template <typename Cfg>
  __device__ __forceinline__ static SfbCursor of(const Tile& tile, const float* sfb, uint32_t group) {
    const uint32_t n0 = tile.n_block * Cfg::kBlockN;
    const uint32_t scale_row = n0 / 128;
    SfbCursor c;
    c.straddles = (n0 % 128) + Cfg::kBlockN > 128 && scale_row + 1 < Cfg::kNumSfbRows;
    c.split_col = c.straddles ? 128 - n0 % 128 : Cfg::kBlockN;
    c.row = sfb + (static_cast<uint64_t>(group) * Cfg::kNumSfbRows + scale_row) * Cfg::kNumKBlocks;
    return c;
  }
};

// A pipelined tile's math-staged B scales, held in registers from before the previous tile's
// epilogue until they are stored to shared memory: thread t holds k-blocks t, t + math threads, ...
// of both scale rows (nothing in kernels without kPrefetchSfb).
template <typename Cfg>
struct SfbFetch {
  static constexpr uint32_t kPerThread =
      Cfg::kPrefetchSfb ? (Cfg::kNumKBlocks + Cfg::kNumMathThreads - 1) / Cfg::kNumMathThreads : 0;
  float left[kPerThread > 0 ? kPerThread : 1], right[kPerThread > 0 ? kPerThread : 1];

  // k-block i's B scale on each side of the tile's split column: one scale row serves both sides
  // unless the tile straddles two 128-row scale blocks.
  __device__ __forceinline__ static void read(const SfbCursor& c, uint32_t i, float& left_i, float& right_i) {
    left_i = __ldg(c.row + i);
    right_i = c.straddles ? __ldg(c.row + Cfg::kNumKBlocks + i) : left_i;
  }

  __device__ __forceinline__ void load(const SfbCursor& c, uint32_t thread) {
    #pragma unroll
    for (uint32_t j = 0; j < kPerThread; ++j) {
      const uint32_t i = thread + j * Cfg::kNumMathThreads;
      if (i < Cfg::kNumKBlocks) read(c, i, left[j], right[j]);
    }
  }

  __device__ __forceinline__ void store(float* smem_sfb, uint32_t thread) const {
    #pragma unroll
    for (uint32_t j = 0; j < kPerThread; ++j) {
      const uint32_t i = thread + j * Cfg::kNumMathThreads;
      if (i < Cfg::kNumKBlocks) smem_sfb[i] = left[j], smem_sfb[Cfg::kNumKBlocks + i] = right[j];
    }
  }
};

// A compile-time count passed to a generic lambda.
template <uint32_t kValue_>
struct Constant {
  static constexpr uint32_t kValue = kValue_;
  __host__ __device__ __forceinline__ uint32_t value() const { return kValue_; }
};

// The same interface for a value known only at run time.
struct RuntimeValue {
  uint32_t v;
  __host__ __device__ __forceinline__ uint32_t value() const { return v; }
};

// f(Constant<kBegin>{}), ..., f(Constant<kEnd - 1>{}): an unrolled loop whose index is a type.
template <uint32_t kBegin, uint32_t kEnd, typename F>
__host__ __device__ __forceinline__ void static_for(F&& f) {
  if constexpr (kBegin < kEnd) {
    f(Constant<kBegin>{});
    static_for<kBegin + 1, kEnd>(f);
  }
}

// The split columns (SfbCursor::split_col) a tile of this configuration can have: 128 - n0 % 128
// for straddling tiles, where n0 is a multiple of BLOCK_N and so n0 % 128 a multiple of
// gcd(BLOCK_N, 128), and BLOCK_N for tiles within one scale row.
template <typename Cfg>
struct SplitColumns {
  static constexpr uint32_t gcd(uint32_t a, uint32_t b) { return b == 0 ? a : gcd(b, a % b); }
  static constexpr uint32_t kStep = gcd(Cfg::kBlockN, 128);
  static constexpr uint32_t kNumStraddling = ((Cfg::kBlockN < 128 ? Cfg::kBlockN : 129) - 1) / kStep;
  // A k-loop is compiled per value: beyond a handful the code grows more than the selects cost.
  static constexpr bool kCompileTime = Cfg::kMayStraddle && kNumStraddling + 1 <= 5;
};

// Calls f(split) with the tile's split column as a Constant when the configuration admits few
// values, so the promotion's per-chunk choice of B scale folds away (one k-loop per value), and as
// a RuntimeValue otherwise. The chain tests kStep, 2 kStep, ... below BLOCK_N (every straddling
// split column is one of them, see SplitColumns) and ends at BLOCK_N, the tiles that do not straddle.
// (Host-callable too, so a CPU test can check that every split column reaches its own Constant.)
template <typename Cfg, uint32_t kSplit = SplitColumns<Cfg>::kStep, typename F>
__host__ __device__ __forceinline__ void with_split_col(uint32_t split_col, F& f) {
  if constexpr (!Cfg::kMayStraddle) {
    f(Constant<Cfg::kBlockN>{});
  } else if constexpr (!SplitColumns<Cfg>::kCompileTime) {
    f(RuntimeValue{split_col});
  } else if constexpr (kSplit < Cfg::kBlockN && kSplit <= 128) {
    if (split_col == kSplit) {
      f(Constant<kSplit>{});
    } else {
      with_split_col<Cfg, kSplit + SplitColumns<Cfg>::kStep>(split_col, f);
    }
  } else {
    f(Constant<Cfg::kBlockN>{});
  }
}

// Hands a consumed stage back to every producer that writes into it (both CTAs of a cluster).
template <typename Cfg>
__device__ __forceinline__ void release_stage(uint64_t* empty_bar, uint32_t lane) {
  __syncwarp();
  if (lane == 0) {
    if constexpr (Cfg::kClusterSize > 1) {
      #pragma unroll
      for (uint32_t r = 0; r < Cfg::kClusterSize; ++r) ptx::mbarrier_arrive_cluster(empty_bar, r);
    } else {
      ptx::mbarrier_arrive(empty_bar);
    }
  }
}

// The promotion: one k-block's tensor-core sums, scaled by sa (per row) * sb (per 128 columns), added
// to the FP32 accumulator. Columns from split_col on use the second B-scale row (straddling tiles).
template <typename Cfg, uint32_t kNumAccum>
__device__ __forceinline__ void promote(float* wave_accum, const float* accum, float sa_lo, float sa_hi, float sb_left,
                                        float sb_right, uint32_t split_col) {
  const float s_lo_left = sa_lo * sb_left, s_lo_right = sa_lo * sb_right;
  const float s_hi_left = sa_hi * sb_left, s_hi_right = sa_hi * sb_right;
  #pragma unroll
  for (uint32_t j = 0; j < kNumAccum / 4; ++j) {
    // NOTES: a select per 8-column chunk, not a branch: the split is uniform across the CTA.
    const bool left = !Cfg::kMayStraddle || j * 8 < split_col;
    const float s_lo = left ? s_lo_left : s_lo_right, s_hi = left ? s_hi_left : s_hi_right;
    wave_accum[j * 4 + 0] += s_lo * accum[j * 4 + 0];
    wave_accum[j * 4 + 1] += s_lo * accum[j * 4 + 1];
    wave_accum[j * 4 + 2] += s_hi * accum[j * 4 + 2];
    wave_accum[j * 4 + 3] += s_hi * accum[j * 4 + 3];
  }
}

template <typename Cfg>
__device__ __forceinline__ void fp8_gemm_impl(const TmaDescriptor* tmap_a, const TmaDescriptor* tmap_b,
                                              const TmaDescriptor* tmap_sfa, const TmaDescriptor* tmap_d,
                                              const float* __restrict__ sfb, void* d, const float* c,
                                              const int32_t* grouped_layout, uint32_t m, uint32_t stage_tx_bytes,
                                              float* split_workspace) {
  constexpr uint32_t kShapeN = Cfg::kShapeN, kBlockM = Cfg::kBlockM, kBlockN = Cfg::kBlockN;
  constexpr uint32_t kNumStages = Cfg::kNumStages, kNumGroups = Cfg::kNumGroups;
  constexpr uint32_t kClusterM = Cfg::kClusterM, kClusterN = Cfg::kClusterN;
  constexpr GemmType kGemmType = Cfg::kGemmType;
  constexpr bool kOutF32 = Cfg::kOutF32, kAccumulate = Cfg::kAccumulate, kTmaStore = Cfg::kTmaStore;
  using Scheduler =
      TileScheduler<kGemmType, kShapeN, kBlockM, kBlockN, kNumGroups, kClusterM, kClusterN, Cfg::kRasterGroupN,
                    Cfg::kSplitLastRound, Cfg::kNumKBlocks>;
  using Mma = ptx::WgmmaFp8<kBlockN>;
  constexpr uint32_t kNumKBlocks = Cfg::kNumKBlocks;
  constexpr uint32_t kNumAccum = Mma::kNumAccum;
  constexpr uint32_t kNumWaves = Cfg::kNumWaves;
  constexpr uint32_t kEpilogueBarrier = 2;  // + warpgroup index: one math warpgroup (its staging tile)
  constexpr uint32_t kTurnBarrier = 4;      // + warpgroup index: "your turn to issue" (ordered math)
  constexpr uint32_t kMathBarrier = 1;      // all math threads (staged B scales)

  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uint64_t>(smem_raw) + 1023) & ~uint64_t(1023));
  uint8_t* smem_d = smem;
  uint8_t* smem_a = smem_d + (Cfg::kSmemD + 1023) / 1024 * 1024;
  uint8_t* smem_b = smem_a + kNumStages * Cfg::kSmemA;
  float* smem_sfa = reinterpret_cast<float*>(smem_b + kNumStages * Cfg::kSmemB);
  float* smem_sfb = smem_sfa + kNumStages * Cfg::kSmemSfa / 4;
  // The producer-staged ring's barriers sit after its slots: full_sfb[2], empty_sfb[2].
  uint64_t* full_sfb = reinterpret_cast<uint64_t*>(smem_sfb + Cfg::kNumSfbSlots * Cfg::kSfbSlotFloats);
  uint64_t* empty_sfb = full_sfb + 2;
  uint64_t* full = reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(smem_sfb) + Cfg::kSmemSfb);
  uint64_t* empty = full + kNumStages;

  const uint32_t warp = __shfl_sync(0xffffffffu, threadIdx.x / 32, 0), lane = threadIdx.x % 32;
  const uint32_t cta_rank = Cfg::kClusterSize > 1 ? ptx::cluster_cta_rank() : 0;

  if (threadIdx.x == Cfg::kNumMathThreads) {
    ptx::tma_prefetch_descriptor(tmap_a);
    ptx::tma_prefetch_descriptor(tmap_b);
    ptx::tma_prefetch_descriptor(tmap_sfa);
    if constexpr (kTmaStore) ptx::tma_prefetch_descriptor(tmap_d);
    #pragma unroll
    for (uint32_t s = 0; s < kNumStages; ++s) {
      ptx::mbarrier_init(full + s, 1);
      // Every math warp of every CTA in the cluster releases the stage: the peer writes into it too.
      ptx::mbarrier_init(empty + s, Cfg::kNumMathThreads / 32 * Cfg::kClusterSize);
    }
    if constexpr (Cfg::kProducerScalesB) {
      #pragma unroll
      for (uint32_t s = 0; s < 2; ++s) {
        ptx::mbarrier_init(full_sfb + s, 32);                            // every lane of the scale warp
        ptx::mbarrier_init(empty_sfb + s, Cfg::kNumMathThreads / 32);   // every math warp
      }
    }
    ptx::fence_mbarrier_init();
  }
  if constexpr (Cfg::kClusterSize > 1) ptx::cluster_sync(); else __syncthreads();

  Scheduler scheduler(m, grouped_layout, blockIdx.x / Cfg::kClusterSize, gridDim.x / Cfg::kClusterSize, cta_rank);
  Tile tile;

  if (threadIdx.x >= Cfg::kNumMathThreads) {
    // ---------------- producer warpgroup ----------------
    ptx::setmaxnreg_dec<Cfg::kProducerRegisters>();
    if (warp == Cfg::kNumMathThreads / 32 && ptx::elect_one_lane()) {
      uint32_t stage = 0, phase = 0;
      while (scheduler.next(tile)) {
        // One pass over K, or one per wave when the tile's waves belong to different experts.
        const uint32_t passes = Cfg::kSplitWaves && tile.group1 != tile.group ? 2 : 1;
        for (uint32_t pass = 0; pass < passes; ++pass) {
          const uint32_t group = pass == 0 ? tile.group : tile.group1;
          const int32_t b_row = static_cast<int32_t>(group * kShapeN + tile.n_block * kBlockN);
          const bool masked = kGemmType == GemmType::Masked;
          const int32_t sfa_x = static_cast<int32_t>(masked ? tile.m_block * kBlockM : tile.a_row);
          const int32_t sfa_y0 = static_cast<int32_t>(masked ? tile.group * kNumKBlocks : 0);
          auto load_k_block = [&](uint32_t kb, uint32_t stage) {
            ptx::mbarrier_arrive_expect_tx(full + stage, stage_tx_bytes);
            const int32_t k0 = static_cast<int32_t>(kb * Cfg::kBlockK);
            uint8_t* a_dst = smem_a + stage * Cfg::kSmemA;
            uint8_t* b_dst = smem_b + stage * Cfg::kSmemB;
            if constexpr (kClusterN > 1) {
              constexpr uint32_t kHalf = kBlockM / kClusterN;
              ptx::tma_load_2d_multicast(a_dst + cta_rank * kHalf * Cfg::kBlockK, tmap_a, full + stage, k0,
                                         static_cast<int32_t>(tile.a_row + cta_rank * kHalf), 0b11);
            } else {
              ptx::tma_load_2d(a_dst, tmap_a, full + stage, k0, static_cast<int32_t>(tile.a_row));
            }
            // A dense problem whose M fits one m-block reads each B tile exactly once: B streams
            // through L2 marked evict-first (the policy is made per copy: no register lives across
            // the loop in this 40-register warp).
            const bool stream_b = kGemmType == GemmType::Dense && m <= kBlockM;
            if constexpr (kClusterM > 1) {
              constexpr uint32_t kHalf = kBlockN / kClusterM;
              ptx::tma_load_2d_multicast(b_dst + cta_rank * kHalf * Cfg::kBlockK, tmap_b, full + stage, k0,
                                         b_row + static_cast<int32_t>(cta_rank * kHalf), 0b11);
            } else if (stream_b) {
              ptx::tma_load_2d(b_dst, tmap_b, full + stage, k0, b_row, ptx::l2_policy_evict_first());
            } else {
              ptx::tma_load_2d(b_dst, tmap_b, full + stage, k0, b_row);
            }
            ptx::tma_load_2d(smem_sfa + stage * Cfg::kSmemSfa / 4, tmap_sfa, full + stage, sfa_x,
                             sfa_y0 + static_cast<int32_t>(kb));
          };
          // (Split paths sit behind `if constexpr`: compiled into kernels that cannot split, their
          // extra call sites kept NVVM from inlining the k-block of 128 x 160 serial tiles, and
          // ptxas then serialised its WGMMAs, warning C7520.)
          if constexpr (Cfg::kSplitLastRound) {
            if (tile.split != 0) {
              // A split part (this CTA's last unit): its k-blocks with run-time stage indices.
              const uint32_t kb_end = tile.split_kb_end<kNumKBlocks>();
              for (uint32_t kb = tile.split_kb_begin<kNumKBlocks>(); kb < kb_end; ++kb) {
                ptx::mbarrier_wait(empty + stage, phase ^ 1);
                load_k_block(kb, stage);
                if (++stage == kNumStages) stage = 0, phase ^= 1;
              }
              continue;
            }
          }
          if constexpr (Cfg::kStageAligned) {
            for (uint32_t round = 0; round < Cfg::kNumRounds; ++round) {
              // Not unrolled: this warp has 40 registers, and its stage arithmetic costs the math nothing.
              #pragma unroll 1
              for (uint32_t s = 0; s < kNumStages; ++s) {
                ptx::mbarrier_wait(empty + s, phase ^ 1);
                const uint32_t kb = round * kNumStages + s;
                if (kb < kNumKBlocks) load_k_block(kb, s); else ptx::mbarrier_arrive(full + s);  // padding slot
              }
              phase ^= 1;
            }
          } else {
            for (uint32_t kb = 0; kb < kNumKBlocks; ++kb) {
              ptx::mbarrier_wait(empty + stage, phase ^ 1);
              load_k_block(kb, stage);
              if (++stage == kNumStages) stage = 0, phase ^= 1;
            }
          }
        }
      }
    } else if (Cfg::kProducerScalesB && warp == Cfg::kNumMathThreads / 32 + 1) {
      // Scale warp: B scales of each upcoming tile into the 2-slot ring, one tile ahead of the math.
      uint32_t slot = 0, slot_phase = 0;
      while (scheduler.next(tile)) {
        const uint32_t passes = Cfg::kSplitWaves && tile.group1 != tile.group ? 2 : 1;  // one slot per pass
        for (uint32_t pass = 0; pass < passes; ++pass) {
          const SfbCursor cursor = SfbCursor::of<Cfg>(tile, sfb, pass == 0 ? tile.group : tile.group1);
          ptx::mbarrier_wait(empty_sfb + slot, slot_phase ^ 1);
          float* dst = smem_sfb + slot * Cfg::kSfbSlotFloats;
          for (uint32_t i = lane; i < kNumKBlocks; i += 32) {
            const float left = __ldg(cursor.row + i);
            dst[i] = left;
            dst[kNumKBlocks + i] = cursor.straddles ? __ldg(cursor.row + kNumKBlocks + i) : left;
          }
          ptx::mbarrier_arrive(full_sfb + slot);  // release: this lane's stores precede the hand-off
          if (++slot == 2) slot = 0, slot_phase ^= 1;
        }
      }
    }
  } else {
    // ---------------- math warpgroups ----------------
    ptx::setmaxnreg_inc<Cfg::kMathRegisters>();
    // NOTES: the shuffle tells the compiler the warpgroup index is warp-uniform, so the WGMMA
    // descriptors derived from it stay in uniform registers (no per-k-block register moves).
    const uint32_t wg = __shfl_sync(0xffffffffu, threadIdx.x / 128, 0), warp_in_wg = warp % 4;
    const uint32_t row_in_tile = wg * 64 + warp_in_wg * 16 + lane / 4;  // and row_in_tile + 8
    uint32_t stage = 0, phase = 0;
    float final_accum[kNumAccum * kNumWaves];
    // The serial loop's tensor-core accumulator, or the pipelined loop's two and the stage of its
    // oldest unreleased k-block (the unused ones are one float each and compiled away).
    float accum[Cfg::kPipelinedPromotion ? 1 : kNumAccum];
    float accum_pair[Cfg::kPipelinedPromotion ? 2 : 1][Cfg::kPipelinedPromotion ? kNumAccum : 1];
    uint32_t release = 0;
    // Ordered math: warpgroup 1 hands the first turn to warpgroup 0.
    if constexpr (Cfg::kOrderedMath) {
      if (wg == 1) ptx::named_barrier_arrive(kTurnBarrier + 0, 256);
    }

    // Where the tile's B scales are (tiles whose columns straddle a 128-row scale block use two
    // rows), and the producer ring's slot when the scale warp stages them.
    SfbCursor cursor{};
    uint32_t sfb_slot = 0, sfb_phase = 0;
    bool has_tile = scheduler.next(tile);
    if (has_tile) cursor = SfbCursor::of<Cfg>(tile, sfb, tile.group);
    // Pipelined tiles' math-staged B scales, loaded while the previous tile's epilogue runs.
    SfbFetch<Cfg> sfb_fetch;
    if constexpr (Cfg::kPrefetchSfb) {
      if (has_tile) sfb_fetch.load(cursor, threadIdx.x);
    }

    // Contiguous, TMA-store epilogue: the tile row whose mIndices entry this thread checks (one of
    // its warpgroup's rows, so the warpgroup's AND says whether all its rows may be stored).
    const uint32_t id_row = threadIdx.x % 128 / 64 * Cfg::kWaveRows + wg * 64 + threadIdx.x % 64;
    const bool checks_id_row = kTmaStore && threadIdx.x % 128 < 64 * kNumWaves;

    while (has_tile) {
      // Which of this thread's rows are real (contiguous layouts ask only in the plain-store path).
      bool row_real[kNumWaves][2];
      auto ask_row_real = [&]() {
        #pragma unroll
        for (uint32_t w = 0; w < kNumWaves; ++w) {
          const uint32_t row = tile.a_row + w * Cfg::kWaveRows + row_in_tile;
          row_real[w][0] = scheduler.row_is_real(tile, row);
          row_real[w][1] = scheduler.row_is_real(tile, row + 8);
        }
      };
      if constexpr (kGemmType != GemmType::Contiguous) ask_row_real();
      // Contiguous: the mIndices entries of this thread's checked row and of the next unit's two
      // halves, loaded here so that they land with the B scales below (begin_pass) and are all in
      // registers before the k-loop. (A load still in flight there cost 3-6% at K = 2048, even as
      // cp.async into shared memory; docs/perf-notes.md, run 47.) Unused entries load row 0.
      int32_t id_of_row = -1, next_id0 = -1, next_id1 = -1;
      if constexpr (kGemmType == GemmType::Contiguous) {
        const uint32_t next_row = scheduler.upcoming_a_row();
        next_id0 = load_readonly(grouped_layout + (next_row < m ? next_row : 0));
        next_id1 = load_readonly(grouped_layout + (next_row + 128 < m ? next_row + 128 : 0));
        if (checks_id_row) id_of_row = load_readonly(grouped_layout + (id_row < tile.row_limit ? tile.a_row + id_row : 0));
      }
      // The B scales of one pass over K: the scale warp's next ring slot, or staged by the math threads.
      auto begin_pass = [&](const SfbCursor& c) -> const float* {
        if constexpr (Cfg::kProducerScalesB) {
          ptx::mbarrier_wait(full_sfb + sfb_slot, sfb_phase);
          return smem_sfb + sfb_slot * Cfg::kSfbSlotFloats;
        } else {
          ptx::named_barrier_sync(kMathBarrier, Cfg::kNumMathThreads);  // the previous pass is done reading smem_sfb
          if constexpr (Cfg::kPrefetchSfb) {
            sfb_fetch.store(smem_sfb, threadIdx.x);
          } else {
            for (uint32_t i = threadIdx.x; i < kNumKBlocks; i += Cfg::kNumMathThreads) {
              SfbFetch<Cfg>::read(c, i, smem_sfb[i], smem_sfb[kNumKBlocks + i]);
            }
          }
          ptx::named_barrier_sync(kMathBarrier, Cfg::kNumMathThreads);
          return smem_sfb;
        }
      };
      // The pass's B scales have all been read: free the ring slot for the scale warp.
      auto end_pass = [&]() {
        if constexpr (Cfg::kProducerScalesB) {
          __syncwarp();
          if (lane == 0) ptx::mbarrier_arrive(empty_sfb + sfb_slot);
          if (++sfb_slot == 2) sfb_slot = 0, sfb_phase ^= 1;
        }
      };
      const float* tile_sfb = begin_pass(cursor);
      // Contiguous: this thread's row may be stored (the entry names its wave's expert); the next
      // unit's ids, made warp-uniform. The moves pin the waits for the loads here, before the k-loop.
      bool id_row_real = true;
      if constexpr (kGemmType == GemmType::Contiguous) {
        next_id0 = __shfl_sync(0xffffffffu, pin_here(next_id0), 0);
        next_id1 = __shfl_sync(0xffffffffu, pin_here(next_id1), 0);
        const uint32_t want = kBlockM > 128 && id_row >= Cfg::kWaveRows ? tile.group1 : tile.group;
        id_row_real = !checks_id_row || (id_row < tile.row_limit && pin_here(id_of_row) == static_cast<int32_t>(want));
      }
      // Waits for stage s to land and hands it back unread (padding slots, an idle warpgroup).
      auto pass_stage_on = [&](uint32_t s) {
        ptx::mbarrier_wait(full + s, phase);
        release_stage<Cfg>(empty + s, lane);
      };
      #pragma unroll
      for (uint32_t i = 0; i < kNumAccum * kNumWaves; ++i) final_accum[i] = 0.0f;

      // Contiguous 256-row tiles: the waves this pass promotes (bit w: wave w); a tile of two experts
      // makes one pass per expert (see kSplitWaves). The other wave's MMAs still run, into partial
      // sums that are promoted with a zero scale: one k-loop in the code (as two wave-masked copies
      // the main loop ran 2% slower) and no branch in it (a branch around the promotion: 2-4%; run 47).
      // A zero scale adds NaN where the pass's expert has a NaN weight or a non-finite B scale, so wave
      // 0's sums wait out the second pass in shared memory and wave 1 restarts from zero for it.
      uint32_t live_waves = (1u << kNumWaves) - 1;
      // The k-loop, compiled per split column where there are few (see with_split_col).
      auto k_loop = [&](auto split) {
        if constexpr (Cfg::kSplitWaves) {
          if (live_waves == 2u) {
            #pragma unroll
            for (uint32_t i = 0; i < kNumAccum; ++i) final_accum[kNumAccum + i] = 0.0f;
          }
        }
        const uint64_t desc_a0 = ptx::make_sw128_kmajor_desc(smem_a + wg * 64 * Cfg::kBlockK);
        const uint64_t desc_b0 = ptx::make_sw128_kmajor_desc(smem_b);
        // Stage-aligned rounds: the A-scale row address and the descriptors, made opaque once per
        // k-block (NOTES: so the compiler adds each compile-time stage's offset where it is used
        // instead of keeping every stage's addresses and descriptors live across the loop, which spilled).
        auto opaque_bases = [&](uint32_t& sfa_rows, uint64_t& desc_a_base, uint64_t& desc_b_base) {
          sfa_rows = smem_u32(smem_sfa + row_in_tile);
          asm volatile("" : "+r"(sfa_rows), "+l"(desc_a_base), "+l"(desc_b_base));
        };
        // Stage-aligned rounds: the last round's padding slots (kReal and on) are handed straight back.
        auto hand_back_padding = [&](auto real) {
          static_for<decltype(real)::kValue, kNumStages>([&](auto s) { pass_stage_on(decltype(s)::kValue); });
        };
        if constexpr (Cfg::kPipelinedPromotion) {
          // Buffer b holds the k-block in flight; k-block kb always lands in buffer kb % 2, and the
          // loop below is unrolled by two so every buffer index is a compile-time constant.
          float buf_sa_lo[2], buf_sa_hi[2], buf_sb_left[2], buf_sb_right[2];
          // Waits for kb's stage, reads its scales, issues its four MMAs into accum_pair[b].
          auto issue_at = [&](uint32_t b, uint32_t kb, uint32_t stage) {
            buf_sb_left[b] = ld_shared_f32(tile_sfb + kb), buf_sb_right[b] = ld_shared_f32(tile_sfb + kNumKBlocks + kb);
            ptx::mbarrier_wait(full + stage, phase);
            uint64_t desc_a_base = desc_a0, desc_b_base = desc_b0;
            if constexpr (Cfg::kStageAligned) {
              uint32_t sfa_rows;
              opaque_bases(sfa_rows, desc_a_base, desc_b_base);
              buf_sa_lo[b] = ld_shared_f32_u32(sfa_rows + stage * Cfg::kSmemSfa);
              buf_sa_hi[b] = ld_shared_f32_u32(sfa_rows + stage * Cfg::kSmemSfa + 8 * 4);
            } else {
              const float* sfa_stage = smem_sfa + stage * Cfg::kSmemSfa / 4;
              buf_sa_lo[b] = ld_shared_f32(sfa_stage + row_in_tile);
              buf_sa_hi[b] = ld_shared_f32(sfa_stage + row_in_tile + 8);
            }
            const uint64_t desc_a = desc_a_base + (stage * Cfg::kSmemA >> 4);
            const uint64_t desc_b = desc_b_base + (stage * Cfg::kSmemB >> 4);
            #pragma unroll
            for (uint32_t i = 0; i < kNumAccum; ++i) ptx::fence_operand(accum_pair[b][i]);
            ptx::wgmma_fence();
            #pragma unroll
            for (uint32_t k = 0; k < Cfg::kBlockK / 32; ++k) Mma::mma(desc_a + 2 * k, desc_b + 2 * k, accum_pair[b], k > 0);
            ptx::wgmma_commit();
          };
          auto issue = [&](uint32_t b, uint32_t kb) {
            issue_at(b, kb, stage);
            if (++stage == kNumStages) stage = 0, phase ^= 1;
          };
          // kCount k-blocks from kb0 as one straight-line run: issue the next, wait for the current
          // (wait_group 1), promote it. Nothing stays in flight past a run, so ptxas can prove every
          // read safe (a run carried across a loop back edge made it inject a full wait per iteration).
          auto run_k_blocks = [&](uint32_t kb0, auto count) {
            constexpr uint32_t kCount = decltype(count)::kValue;
            issue(0, kb0);
            #pragma unroll
            for (uint32_t j = 0; j < kCount; ++j) {
              const uint32_t b = j % 2;
              if (j + 1 < kCount) {
                issue(b ^ 1, kb0 + j + 1);
                ptx::wgmma_wait<1>();  // k-block j is done; j + 1 stays in flight
              } else {
                ptx::wgmma_wait<0>();
              }
              #pragma unroll
              for (uint32_t i = 0; i < kNumAccum; ++i) ptx::fence_operand(accum_pair[b][i]);
              release_stage<Cfg>(empty + release, lane);
              if (++release == kNumStages) release = 0;
              promote<Cfg, kNumAccum>(final_accum, accum_pair[b], buf_sa_lo[b], buf_sa_hi[b], buf_sb_left[b],
                                      buf_sb_right[b], split.value());
            }
          };
          // Stage-aligned: one run per round, k-block j of the round in stage j, then the padding slots.
          auto round = [&](uint32_t r, auto real) {
            constexpr uint32_t kReal = decltype(real)::kValue;
            const uint32_t kb0 = r * kNumStages;
            issue_at(0, kb0, 0);
            static_for<0, kReal>([&](auto jc) {
              constexpr uint32_t j = decltype(jc)::kValue, b = j % 2;
              if constexpr (j + 1 < kReal) {
                issue_at(b ^ 1, kb0 + j + 1, j + 1);
                ptx::wgmma_wait<1>();
              } else {
                ptx::wgmma_wait<0>();
              }
              #pragma unroll
              for (uint32_t i = 0; i < kNumAccum; ++i) ptx::fence_operand(accum_pair[b][i]);
              release_stage<Cfg>(empty + j, lane);
              promote<Cfg, kNumAccum>(final_accum, accum_pair[b], buf_sa_lo[b], buf_sa_hi[b], buf_sb_left[b],
                                      buf_sb_right[b], split.value());
            });
            hand_back_padding(real);
            phase ^= 1;
          };
          if constexpr (Cfg::kSplitLastRound) {
            if (tile.split != 0) {
              // A split part: runs over its k-blocks with run-time stage indices, the rest one run.
              constexpr uint32_t kRun = Cfg::kPipelineRun;
              uint32_t kb0 = tile.split_kb_begin<kNumKBlocks>();
              const uint32_t kb_end = tile.split_kb_end<kNumKBlocks>();
              for (; kb0 + kRun <= kb_end; kb0 += kRun) run_k_blocks(kb0, Constant<kRun>{});
              static_for<1, kRun>([&](auto rest) {
                if (kb_end - kb0 == decltype(rest)::kValue) run_k_blocks(kb0, rest);
              });
              return;
            }
          }
          if constexpr (Cfg::kStageAligned) {
            for (uint32_t r = 0; r + 1 < Cfg::kNumRounds; ++r) round(r, Constant<kNumStages>{});
            round(Cfg::kNumRounds - 1, Constant<Cfg::kLastRoundKBlocks>{});
          } else {
            constexpr uint32_t kRun = Cfg::kPipelineRunWholeTile;
            for (uint32_t kb0 = 0; kb0 + kRun <= kNumKBlocks; kb0 += kRun) run_k_blocks(kb0, Constant<kRun>{});
            if constexpr (kNumKBlocks % kRun != 0) run_k_blocks(kNumKBlocks / kRun * kRun, Constant<kNumKBlocks % kRun>{});
          }
        } else {
        // One k-block: per wave issue, wait, hand the stage back after the last wave, promote.
        constexpr uint32_t kLastWave = kNumWaves - 1;
        auto k_block = [&](uint32_t kb, uint32_t stage, auto last) {
          constexpr bool kStageEarly = Cfg::kStageWave0Early && decltype(last)::kValue != 0;
          const float sb_left = ld_shared_f32(tile_sfb + kb), sb_right = ld_shared_f32(tile_sfb + kNumKBlocks + kb);

          ptx::mbarrier_wait(full + stage, phase);
          // Every shared-memory read of the stage happens before the stage is released (last wave).
          float sa_lo[kNumWaves], sa_hi[kNumWaves];
          uint64_t desc_a_base = desc_a0, desc_b_base = desc_b0;
          if constexpr (Cfg::kStageAligned) {
            uint32_t sfa_rows;
            opaque_bases(sfa_rows, desc_a_base, desc_b_base);
            #pragma unroll
            for (uint32_t w = 0; w < kNumWaves; ++w) {
              sa_lo[w] = ld_shared_f32_u32(sfa_rows + stage * Cfg::kSmemSfa + w * Cfg::kWaveRows * 4);
              sa_hi[w] = ld_shared_f32_u32(sfa_rows + stage * Cfg::kSmemSfa + (w * Cfg::kWaveRows + 8) * 4);
            }
          } else {
            const float* sfa_stage = smem_sfa + stage * Cfg::kSmemSfa / 4;
            #pragma unroll
            for (uint32_t w = 0; w < kNumWaves; ++w) {
              sa_lo[w] = ld_shared_f32(sfa_stage + w * Cfg::kWaveRows + row_in_tile);
              sa_hi[w] = ld_shared_f32(sfa_stage + w * Cfg::kWaveRows + row_in_tile + 8);
            }
          }
          if constexpr (Cfg::kSplitWaves) {
            #pragma unroll
            for (uint32_t w = 0; w < kNumWaves; ++w) {
              const bool live = (live_waves >> w) & 1;
              sa_lo[w] = live ? sa_lo[w] : 0.0f, sa_hi[w] = live ? sa_hi[w] : 0.0f;
            }
          }

          #pragma unroll
          for (uint32_t w = 0; w < kNumWaves; ++w) {
            // Descriptor start addresses are in 16-byte units: a stage is + stage * tile bytes, a wave
            // + 128 rows of 128 bytes, a k32 step + 32 bytes.
            const uint64_t desc_a = desc_a_base + ((stage * Cfg::kSmemA + w * Cfg::kWaveRows * Cfg::kBlockK) >> 4);
            const uint64_t desc_b = desc_b_base + (stage * Cfg::kSmemB >> 4);
            #pragma unroll
            for (uint32_t i = 0; i < kNumAccum; ++i) ptx::fence_operand(accum[i]);
            if constexpr (Cfg::kOrderedMath) ptx::named_barrier_sync(kTurnBarrier + wg, 256);
            ptx::wgmma_fence();
            #pragma unroll
            for (uint32_t k = 0; k < Cfg::kBlockK / 32; ++k)
              Mma::mma(desc_a + 2 * k, desc_b + 2 * k, accum, k > 0 || (Cfg::kSingleLevel && kb > 0));
            ptx::wgmma_commit();
            if constexpr (Cfg::kOrderedMath) ptx::named_barrier_arrive(kTurnBarrier + (wg ^ 1), 256);
            if constexpr (kStageEarly) {
              // The tile's last k-block: wave 0 is final, so it is converted and staged for the
              // store while wave 1's MMAs run. No branch from here to the wait (ptxas would wait for
              // the MMAs at one): every thread asks for the previous store's drain (only the leader
              // has bulk groups), then the warpgroup syncs before writing the staging tile.
              // A contiguous tile's second pass stages its wave 0 (not its expert's) into wave 1's rows,
              // which the epilogue then restages, and leaves wave 0's rows as the first pass staged them.
              if (w == 1) {
                ptx::tma_store_wait_read();
                ptx::named_barrier_sync(kEpilogueBarrier + wg, 128);
                const uint32_t rows = Cfg::kSplitWaves && live_waves == 2u ? Cfg::kWaveRows : 0;
                stage_tile_bf16<kBlockM, kBlockN>(smem_d, final_accum, rows + wg * 64, warp_in_wg, lane);
              }
            }
            ptx::wgmma_wait<0>();
            #pragma unroll
            for (uint32_t i = 0; i < kNumAccum; ++i) ptx::fence_operand(accum[i]);

            // The stage's A, B and sfa have all been read (last wave): hand it back.
            if (w == kLastWave) release_stage<Cfg>(empty + stage, lane);

            // Promotion: scale this k-block's partial sums and add them to the FP32 accumulator.
            if (Cfg::kSingleLevel && kb + 1 < kNumKBlocks) continue;
            promote<Cfg, kNumAccum>(final_accum + w * kNumAccum, accum, sa_lo[w], sa_hi[w], sb_left, sb_right, split.value());
          }
        };
        if constexpr (Cfg::kSplitLastRound) {
          if (tile.split != 0) {
            const uint32_t kb_end = tile.split_kb_end<kNumKBlocks>();
            for (uint32_t kb = tile.split_kb_begin<kNumKBlocks>(); kb < kb_end; ++kb) {  // a split part: run-time stages
              k_block(kb, stage, Constant<0>{});
              if (++stage == kNumStages) stage = 0, phase ^= 1;
            }
            return;
          }
        }
        if constexpr (Cfg::kStageAligned) {
          // One round: kReal k-blocks in stages 0.., then the padding slots handed straight back.
          auto round = [&](uint32_t r, auto real, auto last_round) {
            constexpr uint32_t kReal = decltype(real)::kValue;
            static_for<0, kReal>([&](auto s) {
              constexpr uint32_t kS = decltype(s)::kValue;
              constexpr bool kLast = decltype(last_round)::kValue != 0 && kS + 1 == kReal;
              k_block(r * kNumStages + kS, kS, Constant<kLast ? 1 : 0>{});
            });
            hand_back_padding(real);
            phase ^= 1;
          };
          for (uint32_t r = 0; r + 1 < Cfg::kNumRounds; ++r) round(r, Constant<kNumStages>{}, Constant<0>{});
          round(Cfg::kNumRounds - 1, Constant<Cfg::kLastRoundKBlocks>{}, Constant<1>{});
        } else if constexpr (Cfg::kStageWave0Early) {
          for (uint32_t kb = 0; kb + 1 < kNumKBlocks; ++kb) {
            k_block(kb, stage, Constant<0>{});
            if (++stage == kNumStages) stage = 0, phase ^= 1;
          }
          k_block(kNumKBlocks - 1, stage, Constant<1>{});
          if (++stage == kNumStages) stage = 0, phase ^= 1;
        } else {
          for (uint32_t kb = 0; kb < kNumKBlocks; ++kb) {
            k_block(kb, stage, Constant<0>{});
            if (++stage == kNumStages) stage = 0, phase ^= 1;
          }
        }
        }  // serial promotion
      };
      // A warpgroup whose 64 rows all lie past the tile's real rows (the last m-block of a masked group
      // or of M) would compute only rows that are never stored: it takes each stage of the pass as it
      // lands and hands it back, and the other warpgroup has the tensor cores to itself.
      auto idle_pass = [&]() {
        auto consume_run = [&](uint32_t count) {
          for (uint32_t i = 0; i < count; ++i) {
            pass_stage_on(stage);
            if (++stage == kNumStages) stage = 0, phase ^= 1;
          }
          release = stage;  // the pipelined loop's release cursor moves with its stages
        };
        if constexpr (Cfg::kSplitLastRound) {
          if (tile.split != 0) {
            consume_run(tile.split_kb_end<kNumKBlocks>() - tile.split_kb_begin<kNumKBlocks>());
            return;
          }
        }
        if constexpr (Cfg::kStageAligned) {
          for (uint32_t r = 0; r < Cfg::kNumRounds; ++r) {  // padding slots included
            static_for<0, kNumStages>([&](auto s) { pass_stage_on(decltype(s)::kValue); });
            phase ^= 1;
          }
        } else {
          consume_run(kNumKBlocks);
        }
      };
      // Contiguous tile of two experts: wave 0's sums wait out the second pass in the staging buffer.
      // BF16 outputs keep them as the BF16 they will be stored as, in the staging layout (tiles that
      // stage wave 0 early have done so in the first pass's last k-block); FP32 outputs (never a TMA
      // store) as FP32, every math thread its own float4s. Either way a thread reads back only what
      // its own warp wrote, so no barrier beyond the staging's own is needed.
      auto save_wave0 = [&]() {
        if constexpr (kOutF32) {
          float4* slots = reinterpret_cast<float4*>(smem_d);
          #pragma unroll
          for (uint32_t j = 0; j < kNumAccum / 4; ++j)
            slots[j * Cfg::kNumMathThreads + threadIdx.x] =
                make_float4(final_accum[4 * j], final_accum[4 * j + 1], final_accum[4 * j + 2], final_accum[4 * j + 3]);
        } else if constexpr (!Cfg::kStageWave0Early) {
          if (kTmaStore && threadIdx.x % 128 == 0) ptx::tma_store_wait_read();  // the previous tile's store has read it
          ptx::named_barrier_sync(kEpilogueBarrier + wg, 128);
          stage_tile_bf16<kBlockM, kBlockN>(smem_d, final_accum, wg * 64, warp_in_wg, lane);
        }
      };
      auto restore_wave0 = [&]() {
        if constexpr (kOutF32) {
          const float4* slots = reinterpret_cast<const float4*>(smem_d);
          #pragma unroll
          for (uint32_t j = 0; j < kNumAccum / 4; ++j) {
            const float4 v = slots[j * Cfg::kNumMathThreads + threadIdx.x];
            final_accum[4 * j] = v.x, final_accum[4 * j + 1] = v.y, final_accum[4 * j + 2] = v.z, final_accum[4 * j + 3] = v.w;
          }
        } else {
          __syncwarp();
          unstage_tile_bf16<kBlockM, kBlockN>(smem_d, final_accum, wg * 64, warp_in_wg, lane);
        }
      };
      // (Called through this wrapper the dense kernels compile to the same PTX as before the wave
      // masks came in; called directly, NVVM orders the B-scale staging differently.)
      auto whole_tile = [&](auto split) { k_loop(split); };
      if constexpr (Cfg::kSplitWaves) {
        // One call site in a loop, so that the k-loop is compiled once.
        live_waves = tile.group1 != tile.group ? 1u : 3u;
        while (true) {
          with_split_col<Cfg>(cursor.split_col, whole_tile);
          if (live_waves != 1u) break;
          end_pass();
          save_wave0();
          tile_sfb = begin_pass(SfbCursor::of<Cfg>(tile, sfb, tile.group1));
          live_waves = 2u;
        }
        if (live_waves == 2u) restore_wave0();
      } else if constexpr (Cfg::kIdleEmptyWarpgroup) {
        if (wg * 64 >= tile.row_limit) {
          idle_pass();
        } else {
          with_split_col<Cfg>(cursor.split_col, whole_tile);
        }
      } else {
        with_split_col<Cfg>(cursor.split_col, whole_tile);
      }
      end_pass();

      Tile next_tile;
      const bool has_next = [&]() {
        if constexpr (kGemmType == GemmType::Contiguous) return scheduler.next_with_ids(next_tile, next_id0, next_id1);
        else return scheduler.next(next_tile);
      }();
      const SfbCursor next_cursor = has_next ? SfbCursor::of<Cfg>(next_tile, sfb, next_tile.group) : cursor;
      if constexpr (Cfg::kPrefetchSfb) {
        if (has_next) sfb_fetch.load(next_cursor, threadIdx.x);
      }

      // A split part stores its partial sums; the last part of the tile to finish adds them all up
      // and stores the tile.
      bool owns_output = true;
      if constexpr (Cfg::kSplitLastRound) {
        if (tile.split != 0) {
          owns_output = split_k::reduce<kNumAccum, Cfg::kNumMathThreads>(
              split_workspace, gridDim.x, tile.split_tile(), tile.split_part(), tile.split_parts(), final_accum, threadIdx.x,
              kMathBarrier);
        }
      }

      // ---------------- epilogue ----------------
      if (owns_output) {
        const uint32_t n0 = tile.n_block * kBlockN;
        bool stored = false;
        if constexpr (kTmaStore) {
          const bool leader = threadIdx.x % 128 == 0;
          bool all_real = true;
          if constexpr (!Cfg::kStageWave0Early || kGemmType != GemmType::Dense) {
            if (!Cfg::kStageWave0Early && leader) ptx::tma_store_wait_read();  // the previous tile's store has left the staging buffer
            bool mine_real = true;
            if constexpr (kGemmType == GemmType::Contiguous) {
              mine_real = id_row_real;
            } else {
              #pragma unroll
              for (uint32_t w = 0; w < kNumWaves; ++w) mine_real = mine_real && row_real[w][0] && row_real[w][1];
            }
            // Dense tiles rely on the tensor map to clip rows past M; grouped tiles need every row real.
            all_real = ptx::named_barrier_and(kEpilogueBarrier + wg, 128, mine_real);
          }
          if (kGemmType == GemmType::Dense || all_real) {
            #pragma unroll
            for (uint32_t w = Cfg::kStageWave0Early ? 1 : 0; w < kNumWaves; ++w)
              stage_tile_bf16<kBlockM, kBlockN>(smem_d, final_accum + w * kNumAccum, w * Cfg::kWaveRows + wg * 64, warp_in_wg, lane);
            ptx::fence_proxy_async_shared();
            ptx::named_barrier_sync(kEpilogueBarrier + wg, 128);
            if (leader) {
              #pragma unroll
              for (uint32_t w = 0; w < kNumWaves; ++w) {
                const uint32_t rows = w * Cfg::kWaveRows + wg * 64;
                issue_tile_store<kBlockM, kBlockN>(tmap_d, smem_d, rows, n0, tile.a_row + rows, kShapeN);
              }
              ptx::tma_store_commit();
            }
            stored = true;
          }
        }
        if (!stored) {
          if constexpr (kGemmType == GemmType::Contiguous) ask_row_real();
          #pragma unroll
          for (uint32_t w = 0; w < kNumWaves; ++w)
            store_tile_plain<kShapeN, kBlockN, kOutF32, kAccumulate>(d, c, final_accum + w * kNumAccum,
                                                                     tile.a_row + w * Cfg::kWaveRows + row_in_tile, n0,
                                                                     lane, row_real[w]);
        }
      }

      tile = next_tile;
      cursor = next_cursor;
      has_tile = has_next;
    }
    // Warpgroup 1's last hand-off has no taker: consume it so no barrier is left half-arrived.
    if constexpr (Cfg::kOrderedMath) {
      if (wg == 0) ptx::named_barrier_sync(kTurnBarrier + 0, 256);
    }
    if constexpr (kTmaStore) {
      if (threadIdx.x % 128 == 0) ptx::tma_store_wait_all();
    }
  }

  // A CTA of a cluster must outlive its peer's multicasts into it and its peer's arrivals on its barriers.
  if constexpr (Cfg::kClusterSize > 1) ptx::cluster_sync();
}

}  // namespace bungemm
