/**
 * Every quantization kernel compiles with NVCC for sm_90a from the generated translation unit,
 * with no spills and no stack, and the generated entries match the TypeScript field lists.
 */
import { describe, expect, test } from "bun:test";
import { readSettings } from "../../src/env.ts";
import type { PtxasFunctionInfo } from "../../src/jit/ptxasInfo.ts";
import { compileOnly } from "../../src/jit/jit.ts";
import { locateNvcc, NvccCompiler } from "../../src/jit/nvccCompiler.ts";
import {
  PER_TOKEN_ROWS_PER_CTA,
  PER_TOKEN_STRIPS_PER_WARP,
  QUANT_KERNELS,
  QUANT_THREADS,
  VALUES_PER_THREAD,
  perTokenGrid,
  quantKernelSource,
} from "../../src/quant/kernels.ts";
import { QUANT_BLOCK } from "../../src/quant/layout.ts";

function findNvcc(): string | undefined {
  try {
    return locateNvcc(readSettings());
  } catch (error) {
    console.warn(`skipping quant kernel compile checks: ${(error as Error).message}`);
    return undefined;
  }
}
const nvcc = findNvcc();

describe("generated quantization translation unit", () => {
  test("one extern \"C\" entry per kernel, parameters in field order", () => {
    const source = quantKernelSource();
    expect(source).toContain("#include <bungemm/quant.cuh>");
    for (const spec of Object.values(QUANT_KERNELS)) {
      const params = spec.fields.map((f) => `${f.kind === "f32" ? "float" : `bungemm::${f.kind === "u64" ? "uint64_t" : "uint32_t"}`} ${f.name}`);
      expect(source).toContain(`${spec.entry}(${params.join(", ")})`);
      expect(source).toContain(`bungemm::quant::${spec.call}(${spec.fields.map((f) => f.name).join(", ")});`);
    }
  });
});

// The per-token cast's CTA -> (group, row, k-block) walk, as cuda/bungemm/quant.cuh per_token_cast
// computes it (restated here; the GPU suite checks the kernel's output, padded scales included):
// every strip of the scale layout (padded rows included) exactly once, and no CTA without a strip.
describe("per-token cast grid", () => {
  test("the TypeScript constants are the kernel's (quant.cuh)", async () => {
    const header = await Bun.file(new URL("../../cuda/bungemm/quant.cuh", import.meta.url)).text();
    const constant = (name: string) => Number(header.match(new RegExp(`constexpr uint32_t ${name} = (\\d+);`))?.[1]);
    // (kBlock = QUANT_BLOCK is checked with the other public layout constants: public-index.test.ts.)
    expect({ threads: constant("kThreads"), valuesPerLane: constant("kValuesPerLane") }).toEqual({
      threads: QUANT_THREADS,
      valuesPerLane: VALUES_PER_THREAD,
    });
    // Strips per warp = 32 / lanes per strip, lanes per strip = block / values per lane.
    expect(32 / (QUANT_BLOCK / VALUES_PER_THREAD)).toBe(PER_TOKEN_STRIPS_PER_WARP);
    expect(header).toContain("constexpr uint32_t kTokenRowsPerCta = kThreads / 32;");
  });

  for (const [groups, mPad, kBlocks] of [[1, 4096, 56], [1, 4, 1], [3, 12, 5], [2, 132, 9], [1, 36, 4]] as const) {
    test(`G=${groups} padded rows=${mPad} k-blocks=${kBlocks}`, () => {
      const seen = new Uint8Array(groups * kBlocks * mPad);
      const grid = perTokenGrid(groups, mPad, kBlocks);
      const kGroups = Math.ceil(kBlocks / PER_TOKEN_STRIPS_PER_WARP), rowBlocks = Math.ceil(mPad / PER_TOKEN_ROWS_PER_CTA);
      const idleCtas: number[] = [];
      for (let cta = 0; cta < grid; cta++) {
        let strips = 0;
        for (let thread = 0; thread < QUANT_THREADS; thread += 8) {
          const g = Math.floor(cta / kGroups / rowBlocks);
          const row = (Math.floor(cta / kGroups) % rowBlocks) * PER_TOKEN_ROWS_PER_CTA + Math.floor(thread / 32);
          const kb = (cta % kGroups) * PER_TOKEN_STRIPS_PER_WARP + Math.floor((thread % 32) / 8);
          if (g >= groups || row >= mPad || kb >= kBlocks) continue;
          seen[(g * kBlocks + kb) * mPad + row]! += 1;
          strips++;
        }
        if (strips === 0) idleCtas.push(cta);
      }
      expect(seen.every((v) => v === 1)).toBe(true);
      expect(idleCtas).toEqual([]);
    });
  }
});

describe.skipIf(nvcc === undefined)("quantization kernels under NVCC (sm_90a)", () => {
  let resources: readonly PtxasFunctionInfo[] = [];

  test("the translation unit compiles", () => {
    const result = compileOnly(quantKernelSource(), QUANT_KERNELS.perTokenBf16.entry, new NvccCompiler(nvcc as string));
    expect(result.cubin.byteLength).toBeGreaterThan(0);
    resources = result.resources ?? [];
  }, 120_000);

  test("every entry: no spills, no stack frame, registers leave room for 2+ CTAs of 256 threads", () => {
    for (const spec of Object.values(QUANT_KERNELS)) {
      const info = resources.find((r) => r.name === spec.entry);
      expect(info, spec.entry).toBeDefined();
      expect(info?.entry).toBe(true);
      expect({ name: spec.entry, spills: info!.spillStores + info!.spillLoads, stack: info!.stackFrameBytes }).toEqual({
        name: spec.entry,
        spills: 0,
        stack: 0,
      });
      // 65536 registers per SM / (2 · 256 threads) = 128: memory-bound kernels need CTAs in flight.
      expect(info!.registers).toBeLessThanOrEqual(128);
    }
    // No out-of-line device functions (whose spills would not be counted against an entry).
    expect(resources.filter((r) => !r.entry)).toEqual([]);
  });
});
