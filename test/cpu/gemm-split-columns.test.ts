/**
 * The kernel compiles its k-loop once per split column for straddling tiles with few of them
 * (cuda/bungemm/fp8_gemm.cuh, with_split_col) and falls back to BLOCK_N at the end of its chain: a
 * split column the chain missed would silently use the wrong B scales. A host build of the dispatch
 * (fixtures/splitColumns.cu, nvcc) checks every candidate BLOCK_N over 4096 tile offsets.
 */
import { describe, expect, test } from "bun:test";
import { BLOCK_N_CANDIDATES } from "../../src/gemm/heuristics.ts";
import { splitColumnAtRunTime } from "../../src/gemm/config.ts";
import { nvccPath } from "../support/compilers.ts";
import { buildHostFixture } from "../support/hostFixture.ts";

const nvcc = nvccPath();
if (nvcc === undefined) console.warn("skipping split-column dispatch test: no nvcc");

describe.skipIf(nvcc === undefined)("straddling tiles: split-column dispatch", () => {
  test("every split column of every candidate BLOCK_N reaches the k-loop unchanged", () => {
    // The list goes through a header: nvcc splits -D values at commas. (Its report is text, not JSON.)
    const exe = buildHostFixture(nvcc as string, "splitColumns.cu", { "block_ns.h": `#define BLOCK_NS ${BLOCK_N_CANDIDATES.join(", ")}\n` });
    const run = Bun.spawnSync([exe]);
    const out = run.stdout.toString();
    expect(run.exitCode, out).toBe(0);
    // Which widths get one k-loop per split column: at most 5 values (the straddling ones and BLOCK_N).
    const compileTime = [...out.matchAll(/BLOCK_N (\d+): compile-time/g)].map((m) => Number(m[1]));
    const straddling = BLOCK_N_CANDIDATES.filter((n) => 128 % n !== 0);
    expect(compileTime.filter((n) => straddling.includes(n))).toEqual([48, 80, 96, 160, 192]);
    // The host's twin of that choice (it keeps 128 x 112 off the pipelined loop) agrees with the kernel.
    expect(straddling.filter((n) => !splitColumnAtRunTime(n))).toEqual(compileTime.filter((n) => straddling.includes(n)));
    expect(out.match(/0 mismatches/g)?.length).toBe(BLOCK_N_CANDIDATES.length);
  }, 120_000);
});
