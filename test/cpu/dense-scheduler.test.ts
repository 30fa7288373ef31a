/**
 * The dense tile scheduler (cuda/bungemm/scheduler.cuh), built for the host with nvcc and walked for
 * every CTA of grids of any size (a plan's grid is its maxSms, or fewer CTAs than SMs for a small
 * problem): every output tile is computed exactly once (with the split last round, its k-blocks
 * exactly once), the CTAs of a 2-CTA cluster walk matching tiles in lock step, and the persistent
 * stride keeps the CTAs' loads within one unit of each other.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { nvccPath } from "./../support/compilers.ts";
import { buildHostFixture, runHostFixture, unitsPerCtaWithPartLast, type TileUnit } from "./../support/hostFixture.ts";

const nvcc = nvccPath();
if (nvcc === undefined) console.warn("skipping the dense scheduler's host build: no nvcc");

type Variant = "plain" | "split" | "clusterM" | "clusterN";

type Unit = TileUnit;

// The fixture's constants: N = 1100 in 128-column tiles, 128-row tiles, 56 k-blocks.
const N_BLOCKS = 9;
const BLOCK_M = 128;
const K_BLOCKS = 56;
let exe = "";

function walk(variant: Variant, m: number, ctas: number): Unit[] {
  return runHostFixture<Unit[]>(exe, [variant, String(m), String(ctas)]);
}

const realTile = (u: Unit, m: number): boolean => u.mBlock * BLOCK_M < m && u.nBlock < N_BLOCKS;

/** Checks every invariant of a walk; returns how many k-block ranges the left-over tiles were cut into (1: none). */
function checkWalk(variant: Variant, m: number, ctas: number): number {
  const units = walk(variant, m, ctas);
  const mBlocks = Math.ceil(m / BLOCK_M);
  const clusterSize = variant === "clusterM" || variant === "clusterN" ? 2 : 1;

  // Rows: the tile's rows from its first on are real up to M; none of a partner tile past M.
  for (const u of units) expect(u.rows).toBe(Math.max(0, m - u.mBlock * BLOCK_M));

  // Coverage: each real tile's k-blocks exactly once.
  const byTile = new Map<string, Unit[]>();
  for (const u of units) {
    if (!realTile(u, m)) continue;
    const key = `${u.mBlock}:${u.nBlock}`;
    byTile.set(key, [...(byTile.get(key) ?? []), u]);
  }
  expect(byTile.size).toBe(mBlocks * N_BLOCKS);
  let maxParts = 1;
  for (const [, us] of byTile) {
    const ranges = us.map((u) => [u.kbBegin, u.kbEnd] as const).sort((x, y) => x[0] - y[0]);
    expect(ranges[0]?.[0]).toBe(0);
    expect(ranges.at(-1)?.[1]).toBe(K_BLOCKS);
    for (let i = 1; i < ranges.length; ++i) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
    expect(new Set(us.map((u) => u.part)).size).toBe(us.length);
    for (const u of us) expect(u.parts).toBe(us.length);
    maxParts = Math.max(maxParts, us.length);
  }

  // Per CTA: at most one part, only as the last unit; loads within one unit of each other.
  const perCta = unitsPerCtaWithPartLast(units, ctas);
  const counts = perCta.map((us) => us.length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);

  // A cluster's two CTAs walk the same units: the pair that shares B (two m-blocks of one n-block)
  // or A (two n-blocks of one m-block).
  if (clusterSize === 2) {
    for (let c = 0; c < ctas; c += 2) {
      const [r0, r1] = [perCta[c]!, perCta[c + 1]!];
      expect(r1.length).toBe(r0.length);
      r0.forEach((u, i) => {
        const v = r1[i]!;
        if (variant === "clusterM") expect([v.mBlock, v.nBlock, u.mBlock % 2]).toEqual([u.mBlock + 1, u.nBlock, 0]);
        else expect([v.mBlock, v.nBlock, u.nBlock % 2]).toEqual([u.mBlock, u.nBlock + 1, 0]);
      });
    }
  }
  return maxParts;
}

describe.skipIf(nvcc === undefined)("dense tile scheduler (host build)", () => {
  beforeAll(() => {
    exe = buildHostFixture(nvcc as string, "denseTiles.cu");
  }, 120_000);

  test("grids of any size walk every tile once: 1, 7, 33, 132 CTAs and more CTAs than tiles", () => {
    for (const ctas of [1, 7, 33, 132, 200]) for (const m of [1, 300, 1000, 4096]) checkWalk("plain", m, ctas);
  });

  test("2-CTA clusters sharing B or A, odd m- and n-block counts (a partner tile past M or N), even grids", () => {
    for (const variant of ["clusterM", "clusterN"] as const) {
      for (const ctas of [2, 6, 32, 132]) for (const m of [100, 300, 1000, 4096]) checkWalk(variant, m, ctas);
    }
  });

  test("the split last round on grids smaller than the SM count: parts by CTAs per left-over tile, at most 4", () => {
    // 8 m-blocks x 9 n-blocks = 72 tiles.
    expect(checkWalk("split", 1000, 50)).toBe(2); // 22 left over on 50
    expect(checkWalk("split", 1000, 33)).toBe(4); // 2 rounds, 6 left over
    expect(checkWalk("split", 1000, 36)).toBe(1); // 72 = 2 x 36
    expect(checkWalk("split", 1000, 7)).toBe(3); // 10 rounds, 2 left over: 7 / 2 = 3 parts
    expect(checkWalk("split", 1000, 1)).toBe(1); // one CTA: nothing to split across
    for (const ctas of [5, 13, 40, 66, 100, 132]) for (const m of [1, 129, 700, 4096]) checkWalk("split", m, ctas);
  });
});
