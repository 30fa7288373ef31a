/**
 * Host builds of kernel headers for CPU tests: a fixture program under test/cpu/fixtures, compiled
 * with nvcc against cuda/ (the scheduler code is `__host__ __device__`), run, its stdout parsed as JSON.
 */
import { expect } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Compiles test/cpu/fixtures/`fixture` into a fresh directory and returns the executable's path.
 * `headers` are written into that directory first (it is on the include path).
 */
export function buildHostFixture(nvcc: string, fixture: string, headers: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "bungemm-fixture-"));
  for (const [name, text] of Object.entries(headers)) writeFileSync(join(dir, name), text);
  const exe = join(dir, "fixture");
  const build = Bun.spawnSync([nvcc, "-std=c++17", `-I${join(import.meta.dir, "../../cuda")}`, `-I${dir}`,
    join(import.meta.dir, "../cpu/fixtures", fixture), "-o", exe]);
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  return exe;
}

/** Runs a built fixture with `args` and parses its stdout as JSON. */
export function runHostFixture<T>(exe: string, args: string[] = []): T {
  const run = Bun.spawnSync([exe, ...args]);
  if (run.exitCode !== 0) throw new Error(`fixture exited ${run.exitCode}: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString()) as T;
}

/** A scheduler unit as the host fixtures print it: its CTA and how many parts its tile was split into. */
export interface WalkedUnit {
  cta: number;
  parts: number;
}

/** A unit of the schedulers that split a last round (dense and masked fixtures print the same fields). */
export interface TileUnit extends WalkedUnit {
  mBlock: number;
  nBlock: number;
  rows: number;
  /** Which part of its split tile (0 when unsplit). */
  part: number;
  /** Index of the split tile among the left-over ones. */
  splitTile: number;
  /** The k-blocks this unit covers: [kbBegin, kbEnd). */
  kbBegin: number;
  kbEnd: number;
}

/**
 * Groups a walk's units by CTA (in walk order) and checks the split rule the workspace relies on:
 * each CTA takes at most one part of a split tile, and only as its last unit.
 */
export function unitsPerCtaWithPartLast<U extends WalkedUnit>(units: U[], ctas: number): U[][] {
  const perCta = Array.from({ length: ctas }, () => [] as U[]);
  for (const u of units) perCta[u.cta]!.push(u);
  for (const us of perCta) {
    const parts = us.filter((u) => u.parts > 1);
    expect(parts.length).toBeLessThanOrEqual(1);
    if (parts.length === 1) expect(us.at(-1)).toBe(parts[0]);
  }
  return perCta;
}
