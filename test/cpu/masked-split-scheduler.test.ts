/**
 * The masked layout's split of the last round of tiles (cuda/bungemm/scheduler.cuh), built for the
 * host with nvcc: whole rounds stay whole tiles, the left-over tiles are cut along K into parts that
 * cover each k-block exactly once, every CTA gets at most one part and only as its last unit, and
 * the parts never outnumber the CTAs (the workspace has one slot per CTA).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { nvccPath } from "./../support/compilers.ts";
import { buildHostFixture, runHostFixture, unitsPerCtaWithPartLast, type TileUnit } from "./../support/hostFixture.ts";

const nvcc = nvccPath();
if (nvcc === undefined) console.warn("skipping the masked split scheduler's host build: no nvcc");

interface Unit extends TileUnit {
  group: number;
}

const N_BLOCKS = 8; // N = 1024 in 128-column tiles (the fixture's constants)
const BLOCK_M = 128;
let exe = "";

/** The walk with rasterisation strips of `strip` n-blocks (8: the test's tile orders; 1: what masked plans use). */
function walk(kBlocks: 56 | 24, mMax: number, ctas: number, maskedM: number[], strip: 1 | 8 = 8): Unit[] {
  return runHostFixture<Unit[]>(exe, [String(kBlocks), String(strip), String(mMax), String(ctas), ...maskedM.map(String)]);
}

/** Tiles the counts give, clamped as the kernel clamps them: "group:mBlock:nBlock". */
function expectedTiles(mMax: number, maskedM: number[]): string[] {
  const out: string[] = [];
  maskedM.forEach((v, g) => {
    const rows = Math.min(Math.max(v, 0), mMax);
    for (let mb = 0; mb < Math.ceil(rows / BLOCK_M); ++mb) for (let nb = 0; nb < N_BLOCKS; ++nb) out.push(`${g}:${mb}:${nb}`);
  });
  return out.sort();
}

/** Checks every invariant of a walk and returns the split factor it used (1: none). */
function checkWalk(units: Unit[], kBlocks: number, mMax: number, ctas: number, maskedM: number[]): number {
  const tiles = expectedTiles(mMax, maskedM);
  const byTile = new Map<string, Unit[]>();
  for (const u of units) {
    const key = `${u.group}:${u.mBlock}:${u.nBlock}`;
    byTile.set(key, [...(byTile.get(key) ?? []), u]);
  }
  expect([...byTile.keys()].sort()).toEqual(tiles);
  const parts = Math.max(1, ...units.map((u) => u.parts));
  const leftOver = tiles.length % ctas;
  for (const [, us] of byTile) {
    if (us.length === 1 && us[0]?.parts === 1) {
      expect([us[0].kbBegin, us[0].kbEnd]).toEqual([0, kBlocks]);
      continue;
    }
    // A split tile: parts 0..s-1, consecutive k-ranges covering [0, kBlocks), one split-tile index.
    expect(us.length).toBe(parts);
    const sorted = [...us].sort((a, b) => a.part - b.part);
    expect(sorted.map((u) => u.part)).toEqual([...Array(parts).keys()]);
    expect(sorted[0]?.kbBegin).toBe(0);
    expect(sorted.at(-1)?.kbEnd).toBe(kBlocks);
    for (let i = 1; i < sorted.length; ++i) expect(sorted[i]?.kbBegin).toBe(sorted[i - 1]?.kbEnd as number);
    for (const u of sorted) expect(u.kbEnd - u.kbBegin).toBeGreaterThanOrEqual(12);
    expect(new Set(sorted.map((u) => u.splitTile)).size).toBe(1);
    expect(sorted[0]?.splitTile).toBeLessThan(leftOver);
  }
  if (parts > 1) {
    expect(parts * leftOver).toBeLessThanOrEqual(ctas);
    expect(parts).toBeLessThanOrEqual(4);
    // Split tiles are exactly the left-over ones, and whole rounds before them are whole tiles.
    expect(units.filter((u) => u.parts > 1).length).toBe(parts * leftOver);
  }
  unitsPerCtaWithPartLast(units, ctas);
  return parts;
}

describe.skipIf(nvcc === undefined)("masked split of the last round (host build)", () => {
  beforeAll(() => {
    exe = buildHostFixture(nvcc as string, "maskedSplitTiles.cu");
  }, 120_000);

  test("72 tiles on 32 CTAs: two whole rounds, then 8 tiles in 4 parts of 14 k-blocks", () => {
    const units = walk(56, 1024, 32, [400, 600]); // 4 + 5 m-blocks x 8 n-blocks
    expect(checkWalk(units, 56, 1024, 32, [400, 600])).toBe(4);
    const split = units.filter((u) => u.parts > 1);
    expect(split.map((u) => [u.cta, u.splitTile, u.part, u.kbBegin, u.kbEnd]).slice(0, 5)).toEqual([
      [0, 0, 0, 0, 14], [1, 0, 1, 14, 28], [2, 0, 2, 28, 42], [3, 0, 3, 42, 56], [4, 1, 0, 0, 14],
    ]);
    expect(split.length).toBe(32);
    // The left-over tiles are the last 8 of the walk order: group 1's last m-block.
    expect(new Set(split.map((u) => `${u.group}:${u.mBlock}`))).toEqual(new Set(["1:4"]));
    expect(split.every((u) => u.rows === 600 - 4 * 128)).toBe(true);
  });

  test("the split factor: CTAs per left-over tile, at most 4, at least 12 k-blocks per part", () => {
    expect(checkWalk(walk(56, 1024, 132, [400, 600]), 56, 1024, 132, [400, 600])).toBe(1); // 72 tiles, one round
    expect(checkWalk(walk(56, 1024, 40, [400, 600]), 56, 1024, 40, [400, 600])).toBe(1); // 32 left over on 40
    expect(checkWalk(walk(56, 1024, 50, [400, 600]), 56, 1024, 50, [400, 600])).toBe(2); // 22 left over
    expect(checkWalk(walk(56, 1024, 100, [400, 600]), 56, 1024, 100, [400, 600])).toBe(1); // 72 > 100 / 2
    expect(checkWalk(walk(56, 1024, 54, [400, 600]), 56, 1024, 54, [400, 600])).toBe(3); // 18 left over on 54
    expect(checkWalk(walk(56, 1024, 36, [400, 600]), 56, 1024, 36, [400, 600])).toBe(1); // 72 = 2 x 36
    expect(checkWalk(walk(24, 1024, 32, [400, 600]), 24, 1024, 32, [400, 600])).toBe(2); // 24 k-blocks: parts of 12
  });

  test("counts the host cannot see are clamped; empty groups and no rows at all", () => {
    expect(checkWalk(walk(56, 256, 10, [-5, 1000, 0, 1]), 56, 256, 10, [-5, 1000, 0, 1])).toBe(2); // 24 tiles, 4 left
    expect(walk(56, 256, 10, [0, 0, 0])).toEqual([]);
  });

  test("random counts and grid sizes, strips of 8 and of 1", () => {
    for (let draw = 0; draw < 40; ++draw) {
      const groups = 1 + Math.floor(Math.random() * 16);
      const mMax = 128 * (1 + Math.floor(Math.random() * 8));
      const maskedM = Array.from({ length: groups }, () => Math.floor(Math.random() * (mMax + 1)));
      const ctas = 1 + Math.floor(Math.random() * 132);
      const kBlocks = Math.random() < 0.5 ? 56 : 24;
      const strip = draw % 2 === 0 ? 8 : 1;
      try {
        checkWalk(walk(kBlocks, mMax, ctas, maskedM, strip), kBlocks, mMax, ctas, maskedM);
      } catch (e) {
        throw new Error(`draw ${JSON.stringify({ kBlocks, strip, mMax, ctas, maskedM })}: ${String(e)}`);
      }
    }
  });

  test("strips of 1: consecutive units walk down one n-block column, all of a group's m-blocks", () => {
    const units = walk(56, 1024, 1, [400, 600], 1); // one CTA: the whole walk order
    const order = units.map((u) => `${u.group}:${u.mBlock}:${u.nBlock}`);
    expect(order.slice(0, 6)).toEqual(["0:0:0", "0:1:0", "0:2:0", "0:3:0", "0:0:1", "0:1:1"]);
    expect(order.slice(32, 38)).toEqual(["1:0:0", "1:1:0", "1:2:0", "1:3:0", "1:4:0", "1:0:1"]);
    expect(checkWalk(units, 56, 1024, 1, [400, 600])).toBe(1);
  });
});
