/**
 * The contiguous layout's tile walk (cuda/bungemm/scheduler.cuh), built for the host with nvcc: a
 * 256-row tile takes each 128-row half's expert from its first row, runs as a two-expert tile when
 * they differ (the kernel then makes one pass over K per wave), skips tiles with no real half, and
 * stores exactly the rows that hold a real expert; 128-row tiles keep one expert each.
 */
import { describe, expect, test } from "bun:test";
import { contiguousLayout } from "../../src/gemm/moeLayout.ts";
import { nvccPath } from "./../support/compilers.ts";
import { buildHostFixture, runHostFixture } from "./../support/hostFixture.ts";

const nvcc = nvccPath();
if (nvcc === undefined) console.warn("skipping the contiguous scheduler's host build: no nvcc");

interface TileSeen {
  mBlock: number;
  group: number;
  group1: number;
  stored: [number, number];
}

/** Builds the scheduler for `mIndices` and returns the tiles it walks. */
function walk(mIndices: Int32Array, numExperts: number, blockM: 128 | 256): TileSeen[] {
  const layout = [
    `constexpr unsigned kLayoutRows = ${mIndices.length};`,
    `constexpr unsigned kNumExperts = ${numExperts};`,
    `constexpr unsigned kBlockM = ${blockM};`,
    `const bungemm::int32_t kLayout[kLayoutRows] = {${[...mIndices].join(", ")}};`,
    "",
  ].join("\n");
  const { plain, ahead } = runHostFixture<{ plain: TileSeen[]; ahead: TileSeen[] }>(
    buildHostFixture(nvcc as string, "contiguousTiles.cu", { "layout.h": layout }),
  );
  // The math warps' walk, with each upcoming unit's ids read ahead, takes exactly the same tiles.
  expect(ahead).toEqual(plain);
  return plain;
}

describe.skipIf(nvcc === undefined)("contiguous tile scheduler (host build)", () => {
  // Experts of 100, 300, 129, 7 and 256 rows, padded to 128: segments start at rows 0, 128, 512, 768
  // and 896; 256 more rows of padding (-1) follow, as the GPU builder leaves past its total.
  const counts = [100, 300, 129, 7, 256];
  const { mIndices } = contiguousLayout(counts);
  const withTail = Int32Array.from([...mIndices, ...new Array<number>(256).fill(-1)]);

  test("256-row tiles: two-expert tiles where a segment starts mid-tile, padding-only tiles skipped", () => {
    expect(withTail.length).toBe(1408);
    expect(walk(withTail, 5, 256)).toEqual([
      { mBlock: 0, group: 0, group1: 1, stored: [100, 128] },
      { mBlock: 1, group: 1, group1: 1, stored: [128, 44] },
      { mBlock: 2, group: 2, group1: 2, stored: [128, 1] },
      { mBlock: 3, group: 3, group1: 4, stored: [7, 128] },
      { mBlock: 4, group: 4, group1: 4, stored: [128, 0] },
    ]);
  }, 60_000);

  test("an expert id the host could not check counts as padding; a half of padding takes the other's expert", () => {
    const layout = withTail.slice();
    layout.fill(7, 896, 1024); // rows 896..1023: an id past G = 5
    expect(walk(layout, 5, 256).filter((t) => t.mBlock >= 3)).toEqual([
      { mBlock: 3, group: 3, group1: 3, stored: [7, 0] },
      { mBlock: 4, group: 4, group1: 4, stored: [128, 0] },
    ]);
  }, 60_000);

  test("a row holding the other wave's expert is not stored (a layout that breaks the 128-row segment rule)", () => {
    const layout = withTail.slice();
    layout[5] = 1; // row 5 lies in tile 0's wave 0, computed with expert 0's weights
    layout[200] = 0; // row 200 lies in tile 0's wave 1, computed with expert 1's
    expect(walk(layout, 5, 256)[0]).toEqual({ mBlock: 0, group: 0, group1: 1, stored: [99, 127] });
    // A 128-row tile takes row 5's block's expert from its first row (0), so row 5 is not stored either.
    expect(walk(layout, 5, 128)[0]).toEqual({ mBlock: 0, group: 0, group1: 0, stored: [99, 0] });
  }, 60_000);

  test("128-row tiles: one expert each, padding-only tiles skipped", () => {
    const tiles = walk(withTail, 5, 128);
    expect(tiles.map((t) => [t.mBlock, t.group, t.stored[0]])).toEqual([
      [0, 0, 100], [1, 1, 128], [2, 1, 128], [3, 1, 44], [4, 2, 128], [5, 2, 1], [6, 3, 7], [7, 4, 128], [8, 4, 128],
    ]);
    expect(tiles.every((t) => t.group1 === t.group)).toBe(true);
  }, 60_000);
});
