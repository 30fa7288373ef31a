/**
 * Every kernel configuration the heuristics can pick compiles for sm_90a with NVCC, with no
 * register spills and no stack frame (ptxas -v), and without ptxas serialising its WGMMAs (the
 * C75xx notes it prints when it has to wait for an in-flight MMA at a branch or a loop edge).
 * Each GEMM type / output path is one compile of all its configurations (they live in separate
 * namespaces of one translation unit).
 */
import { describe, expect, test } from "bun:test";
import { reachableKernels } from "../../src/gemm/reachable.ts";
import { gemmKernelName, gemmKernelSource } from "../../src/gemm/kernelSource.ts";
import { sharedMemoryBytes } from "../../src/gemm/config.ts";
import { compileOnly } from "../../src/jit/jit.ts";
import { NvccCompiler, locateNvcc } from "../../src/jit/nvccCompiler.ts";
import { parsePtxasInfo } from "../../src/jit/ptxasInfo.ts";
import { readSettings } from "../../src/env.ts";

function nvcc(): NvccCompiler | string {
  try {
    return new NvccCompiler(locateNvcc(readSettings()));
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const compiler = nvcc();
if (typeof compiler === "string") console.warn(`skipping reachable-configuration compile: ${compiler}`);

const kernels = reachableKernels();
// One NVCC run compiles a whole group: ~1.5 s per configuration on CI's two cores, and the largest
// group (198 dense configurations) took 291-300 s, at the edge of a fixed 5-minute limit.
const compileTimeoutMs = (configurations: number): number => Math.max(300_000, configurations * 3_000);
const groups = new Map<string, typeof kernels>();
for (const r of kernels) {
  const key = `${r.problem.gemmType} ${r.problem.outDtype}${r.problem.accumulate ? "+C" : ""} N=${r.problem.n} K=${r.problem.k}`;
  groups.set(key, [...(groups.get(key) ?? []), r]);
}

describe.skipIf(typeof compiler === "string")("every reachable GEMM configuration compiles without spills", () => {
  test("the reachable set covers both tile heights, every BLOCK_N and all cluster modes", () => {
    const dense = kernels.filter((r) => r.problem.gemmType === "dense");
    expect(new Set(dense.map((r) => r.config.blockM))).toEqual(new Set([64, 128, 256]));
    expect(new Set(dense.map((r) => `${r.config.clusterM}x${r.config.clusterN}`))).toEqual(new Set(["1x1", "2x1", "1x2"]));
    expect(kernels.some((r) => r.problem.gemmType === "contiguous" && r.config.clusterM === 2)).toBe(false);
    // Contiguous 256-row tiles (a pass per wave when the waves' experts differ); none for masked.
    expect(kernels.some((r) => r.config.blockM === 256 && r.problem.gemmType === "contiguous")).toBe(true);
    expect(kernels.some((r) => r.config.blockM === 256 && r.problem.gemmType === "masked")).toBe(false);
    expect(dense.some((r) => r.config.blockM === 256 && r.config.clusterN === 2)).toBe(true);
    // Both promotion loops, pipelined on every tile height that has one wave.
    expect(new Set(kernels.filter((r) => r.config.pipelinedPromotion).map((r) => r.config.blockM))).toEqual(new Set([64, 128]));
    expect(kernels.some((r) => r.config.blockM <= 128 && r.config.blockN <= 128 && !r.config.pipelinedPromotion)).toBe(true);
    // The split last round: masked and dense (never contiguous), both tile heights, both promotion loops.
    const split = kernels.filter((r) => r.config.splitLastRound);
    expect(new Set(split.map((r) => r.problem.gemmType))).toEqual(new Set(["masked", "dense"]));
    expect(new Set(split.map((r) => `${r.config.blockM} ${r.config.pipelinedPromotion}`))).toEqual(new Set(["64 true", "64 false", "128 true", "128 false"]));
  });

  for (const [name, group] of groups) {
    test(`${name}: ${group.length} configurations`, () => {
      const source = group.map((r) => gemmKernelSource(r.problem, r.config, sharedMemoryBytes(r.config, r.problem))).join("\n");
      const result = compileOnly(source, name, compiler as NvccCompiler);
      expect(result.log.match(/\(C75\d\d\)[^\n]*/g) ?? []).toEqual([]);
      const info = parsePtxasInfo(result.log);
      const entries = new Map(info.filter((i) => i.entry).map((i) => [i.name, i]));
      for (const r of group) {
        const entry = entries.get(gemmKernelName(r.problem, r.config));
        expect(entry).toBeDefined();
        expect({ name: entry?.name, spills: (entry?.spillStores ?? 0) + (entry?.spillLoads ?? 0), stack: entry?.stackFrameBytes })
          .toEqual({ name: entry?.name, spills: 0, stack: 0 });
      }
    }, compileTimeoutMs(group.length));
  }
});
