// Tile schedulers. Dense, contiguous-grouped and masked-grouped GEMMs share one kernel body and
// differ only here: which output tile comes next, which group (expert) it belongs to, and which of
// its rows are real.
//
// The persistent grid walks *units*: a unit is one tile, or with a 2-CTA cluster the pair of tiles
// that share an operand (two m-blocks of one n-block when B is multicast, two n-blocks of one
// m-block when A is multicast). Both CTAs of a cluster walk the same units in the same order, so
// their TMA rings stay in lock step; each takes its half by cluster rank.
//
// Dense and masked layouts may split the last round of tiles along K (kSplitLastRound): with T
// tiles on C CTAs, the first R = floor(T / C) rounds are whole tiles, and the L = T - R C tiles left
// over would keep L CTAs busy for a whole tile time while C - L idle. Instead each of them is cut
// into s = min(C / L, kMaxSplitParts, k-blocks / kMinKBlocksPerPart) parts of consecutive k-blocks,
// and part q of left-over tile t is unit R C + t s + q: every CTA gets at most one part, as its
// last unit. (split_k.cuh sums the parts.) Masked tile counts come from maskedM on the device, so
// every CTA derives the same split from the same loads.
#pragma once
#include <bungemm/types.cuh>

namespace bungemm {

enum class GemmType : uint32_t { Dense = 0, Contiguous = 1, Masked = 2 };

struct Tile {
  uint32_t m_block;     // block index along M inside the group (masked) or the whole A (dense, contiguous)
  uint32_t n_block;
  uint32_t group;       // expert index (0 for dense); for a 256-row contiguous tile, that of wave 0
  uint32_t group1;      // expert of wave 1 (rows 128..255); differs from `group` only when a 256-row
                        // contiguous tile spans two experts' segments, which takes one k-loop per wave
  uint32_t a_row;       // first row of the tile in the 2-D view of A / D
  uint32_t row_limit;   // rows at or past a_row + row_limit are not real (not written)
  // Split last round: 0 for a whole tile, else (split_tile << 8) | (split_part << 4) | split_parts:
  // this unit is part split_part of split_parts of left-over tile split_tile. One register (NOTES:
  // five separate fields live across the k-loop spilled the tightest tiles).
  uint32_t split;

  __host__ __device__ uint32_t split_parts() const { return split == 0 ? 1 : split & 0xf; }
  __host__ __device__ uint32_t split_part() const { return (split >> 4) & 0xf; }
  __host__ __device__ uint32_t split_tile() const { return split >> 8; }
  // First k-block of part `part` (the part's range ends where part + 1 begins).
  template <uint32_t kNumKBlocks>
  __host__ __device__ uint32_t split_kb(uint32_t part) const { return part * kNumKBlocks / split_parts(); }
  // This unit's k-blocks: [split_kb_begin, split_kb_end).
  template <uint32_t kNumKBlocks>
  __host__ __device__ uint32_t split_kb_begin() const { return split_kb<kNumKBlocks>(split_part()); }
  template <uint32_t kNumKBlocks>
  __host__ __device__ uint32_t split_kb_end() const { return split_kb<kNumKBlocks>(split_part() + 1); }
};

// A split part covers at least this many k-blocks: the fix-up (store a 128 x 128 FP32 tile, count
// in, the last part reads every part back) costs ~3 us, so K = 2048 (16 k-blocks of ~0.45 us)
// ran 5% slower split into 4 parts and no faster split in 2 (docs/perf-notes.md, run 30).
constexpr uint32_t kMinKBlocksPerPart = 12;
// At most this many parts per tile: the CTA that finishes a tile reads every part's partial sums.
constexpr uint32_t kMaxSplitParts = 4;

template <GemmType kGemmType, uint32_t kShapeN, uint32_t kBlockM, uint32_t kBlockN, uint32_t kNumGroups,
          uint32_t kClusterM, uint32_t kClusterN, uint32_t kRasterGroupN, bool kSplitLastRound = false,
          uint32_t kNumKBlocks = 1>
struct TileScheduler {
  static_assert(kClusterM == 1 || kClusterN == 1, "a cluster shares A or B, not both");
  static_assert(!kSplitLastRound || (kGemmType != GemmType::Contiguous && kClusterM * kClusterN == 1),
                "the last round is split for dense and masked layouts, without clusters");
  static_assert(kGemmType != GemmType::Contiguous || kClusterM == 1,
                "contiguous: two m-blocks may belong to different experts, so B cannot be multicast");
  static constexpr uint32_t kNumNBlocks = (kShapeN + kBlockN - 1) / kBlockN;
  static constexpr uint32_t kNumNUnits = (kNumNBlocks + kClusterN - 1) / kClusterN;

  uint32_t m;                    // dense: M; contiguous: M_total; masked: M_max (rows per group)
  const int32_t* grouped_layout; // contiguous: m_indices [M_total]; masked: masked_m [G]
  uint32_t unit;                 // next unit index of this cluster
  uint32_t unit_stride;          // number of clusters in the grid
  uint32_t rank_m, rank_n;       // this CTA's position inside its cluster

  // Masked: running cursor over groups, so a CTA walks the variable-size groups once.
  uint32_t group_cursor = 0, group_first_unit = 0, group_units = 0, group_rows = 0;
  // Split last round: units at or past split_first_unit are parts; split_units of them in all.
  uint32_t split_first_unit = ~0u, split_parts = 1, split_units = 0;

  __host__ __device__ TileScheduler(uint32_t m_, const int32_t* layout, uint32_t cluster_idx, uint32_t num_clusters,
                           uint32_t cta_rank)
      : m(m_), grouped_layout(layout), unit(cluster_idx), unit_stride(num_clusters) {
    rank_m = kClusterM > 1 ? cta_rank : 0;
    rank_n = kClusterN > 1 ? cta_rank : 0;
    if constexpr (kGemmType == GemmType::Masked) load_group(0);
    if constexpr (kSplitLastRound) plan_split();
  }

  // Units covering `rows` rows: their m-units times the n-units.
  __host__ __device__ static uint32_t units_of_rows(uint32_t rows) {
    return ceil_div(ceil_div(rows, kBlockM), kClusterM) * kNumNUnits;
  }

  __host__ __device__ void plan_split() {
    uint32_t total = 0;
    if constexpr (kGemmType == GemmType::Masked) {
      for (uint32_t g = 0; g < kNumGroups; ++g) total += units_of_rows(masked_rows(g));
    } else {
      total = units_of_rows(m);
    }
    const uint32_t whole = total / unit_stride * unit_stride;
    const uint32_t left = total - whole;
    if (left == 0) return;
    uint32_t parts = unit_stride / left;
    parts = parts < kMaxSplitParts ? parts : kMaxSplitParts;
    const uint32_t by_k = kNumKBlocks / kMinKBlocksPerPart;
    parts = parts < by_k ? parts : by_k;
    if (parts < 2) return;  // (parts <= kMaxSplitParts < 16 and left <= unit_stride < 2^24: they pack into Tile::split)
    split_first_unit = whole;
    split_parts = parts;
    split_units = left * parts;
  }

  // Rows of group g that are real; values the host cannot see are clamped into [0, M_max].
  __host__ __device__ uint32_t masked_rows(uint32_t g) const {
    const int32_t v = load_readonly(grouped_layout + g);
    return v <= 0 ? 0u : (static_cast<uint32_t>(v) < m ? static_cast<uint32_t>(v) : m);
  }

  __host__ __device__ void load_group(uint32_t g) {
    group_cursor = g;
    if (g < kNumGroups) {
      group_rows = masked_rows(g);
      group_units = units_of_rows(group_rows);
    }
  }

  // Grouped rasterisation: the units form strips kRasterGroupN n-units wide and all m-units tall,
  // walked one strip after another, row by row inside a strip (n fastest), so the CTAs running
  // together share a few B blocks and many A blocks in L2. With strips of one n-unit (masked plans)
  // consecutive units walk down one B column.
  __host__ __device__ void rasterize(uint32_t local, uint32_t num_m_units, uint32_t& m_unit, uint32_t& n_unit) const {
    const uint32_t units_per_strip = num_m_units * kRasterGroupN;
    const uint32_t strip = local / units_per_strip;
    const uint32_t first_n = strip * kRasterGroupN;
    const uint32_t strip_width = kRasterGroupN < kNumNUnits - first_n ? kRasterGroupN : kNumNUnits - first_n;
    const uint32_t in_strip = local - strip * units_per_strip;
    m_unit = in_strip / strip_width;
    n_unit = first_n + in_strip % strip_width;
  }

  __host__ __device__ bool next(Tile& tile) {
    if constexpr (kGemmType == GemmType::Masked) {
      uint32_t u = unit;
      unit += unit_stride;
      tile.split = 0;
      if (!map_split_unit(u, tile)) return false;
      while (group_cursor < kNumGroups && u >= group_first_unit + group_units) {
        group_first_unit += group_units;
        load_group(group_cursor + 1);
      }
      if (group_cursor >= kNumGroups) return false;
      uint32_t m_unit, n_unit;
      rasterize(u - group_first_unit, ceil_div(ceil_div(group_rows, kBlockM), kClusterM), m_unit, n_unit);
      tile.m_block = m_unit * kClusterM + rank_m;
      tile.n_block = n_unit * kClusterN + rank_n;
      tile.group = group_cursor;
      tile.a_row = group_cursor * m + tile.m_block * kBlockM;
      const uint32_t first = tile.m_block * kBlockM;
      tile.row_limit = first < group_rows ? group_rows - first : 0;
      return true;
    } else {
      const uint32_t num_m_units = m_units();
      while (true) {
        uint32_t u = unit;
        unit += unit_stride;
        // (Only where it can split: the extra branch alone made ptxas spill 256 x 128 FP32 tiles.)
        if constexpr (kSplitLastRound) {
          tile.split = 0;
          if (!map_split_unit(u, tile)) return false;
        }
        if (u >= num_m_units * kNumNUnits) return false;
        place(u, num_m_units, tile);
        if constexpr (!kSplitLastRound) tile.split = 0;
        if constexpr (kGemmType == GemmType::Contiguous) {
          if (!assign_experts(tile, expert_of(tile.a_row), kBlockM > 128 ? expert_of(tile.a_row + 128) : -1)) continue;
        }
        return true;
      }
    }
  }

  // Dense and contiguous: m-units of the whole M (masked layouts count them per group).
  __host__ __device__ uint32_t m_units() const { return ceil_div(ceil_div(m, kBlockM), kClusterM); }

  // Unit u's tile: its blocks and rows (dense and contiguous; experts 0 until assigned).
  __host__ __device__ void place(uint32_t u, uint32_t num_m_units, Tile& tile) const {
    uint32_t m_unit, n_unit;
    rasterize(u, num_m_units, m_unit, n_unit);
    tile.m_block = m_unit * kClusterM + rank_m;
    tile.n_block = n_unit * kClusterN + rank_n;
    tile.a_row = tile.m_block * kBlockM;
    tile.row_limit = tile.a_row < m ? m - tile.a_row : 0;
    tile.group = 0;
    tile.group1 = 0;
  }

  // Contiguous: the experts of the tile's 128-row halves, from the checked ids of their first rows
  // (expert_of; g1 is ignored for 128-row tiles). Segments are padded to multiples of 128 rows, so
  // each half lies inside one segment and its expert is its first row's. A half that is padding
  // (-1), past M or an id the host could not check computes for nothing and stores nothing; false
  // for a tile with no real half, which is skipped. With A multicast both CTAs of the cluster read
  // the same rows, so they skip (and split) together.
  __host__ __device__ static bool assign_experts(Tile& tile, int32_t g0, int32_t g1) {
    if (kBlockM <= 128) g1 = g0;
    if (g0 < 0 && g1 < 0) return false;
    tile.group = static_cast<uint32_t>(g0 >= 0 ? g0 : g1);
    tile.group1 = static_cast<uint32_t>(g1 >= 0 ? g1 : g0);
    return true;
  }

  // Contiguous: the first row of the unit the next call takes, or M when no unit is left. The math
  // warps fetch that row's expert id (and the one 128 rows on) ahead, for next_with_ids.
  __host__ __device__ uint32_t upcoming_a_row() const {
    if (unit >= m_units() * kNumNUnits) return m;
    Tile tile;
    place(unit, m_units(), tile);
    return tile.a_row;
  }

  // Contiguous: next(), given the raw mIndices entries at upcoming_a_row() and 128 rows on, as read
  // ahead (entries of rows at or past M are ignored, whatever they hold). A unit whose tile has no
  // real half is skipped as next() skips it, reading the ids of the units after it itself.
  __host__ __device__ bool next_with_ids(Tile& tile, int32_t id0, int32_t id1) {
    static_assert(kGemmType == GemmType::Contiguous && !kSplitLastRound, "read-ahead ids: contiguous layouts");
    const uint32_t num_m_units = m_units();
    const uint32_t u = unit;
    if (u >= num_m_units * kNumNUnits) return false;
    unit += unit_stride;
    place(u, num_m_units, tile);
    tile.split = 0;
    if (assign_experts(tile, checked_expert(tile.a_row, id0), checked_expert(tile.a_row + 128, id1))) return true;
    return next(tile);
  }

  // Split last round: unit u at or past split_first_unit is part (u - split_first_unit) % parts of
  // left-over tile (u - split_first_unit) / parts; u becomes that tile's unit. False past the last part.
  __host__ __device__ bool map_split_unit(uint32_t& u, Tile& tile) const {
    if (!kSplitLastRound || u < split_first_unit) return true;
    const uint32_t part_index = u - split_first_unit;
    if (part_index >= split_units) return false;
    const uint32_t left_over_tile = part_index / split_parts;
    tile.split = left_over_tile << 8 | (part_index % split_parts) << 4 | split_parts;
    u = split_first_unit + left_over_tile;
    return true;
  }

  // Contiguous: the expert of row `row`, or -1 for padding, rows past M and ids out of range.
  __host__ __device__ int32_t expert_of(uint32_t row) const {
    return checked_expert(row, row < m ? load_readonly(grouped_layout + row) : -1);
  }

  // Contiguous: `id`, the mIndices entry of row `row`, if it names an expert of a row inside M; else -1.
  __host__ __device__ int32_t checked_expert(uint32_t row, int32_t id) const {
    return row < m && id >= 0 && static_cast<uint32_t>(id) < kNumGroups ? id : -1;
  }

  // Whether output row `row` (in the 2-D view) of `tile` is real and may be written.
  __host__ __device__ bool row_is_real(const Tile& tile, uint32_t row) const {
    if (row - tile.a_row >= tile.row_limit) return false;
    if constexpr (kGemmType == GemmType::Contiguous) {
      // Exactly the expert its wave was computed with: a layout that breaks the 128-row segment rule
      // (which the debug checks refuse) could put the other wave's expert in this half, and that
      // row must stay unwritten rather than be written with the wrong weights.
      const uint32_t want = kBlockM > 128 && row - tile.a_row >= 128 ? tile.group1 : tile.group;
      return load_readonly(grouped_layout + row) == static_cast<int32_t>(want);
    }
    return true;
  }
};

}  // namespace bungemm
