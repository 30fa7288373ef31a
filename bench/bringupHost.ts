/**
 * Host costs of the bring-up kernels (cuda/bungemm/test/) for the record's `host.bringup`: the
 * JIT path measured on kernels small enough that the numbers show the machinery (NVRTC start-up,
 * cache read, module load, launch), not the GEMM's compile weight.
 *
 * Compiles with NVRTC when libnvrtc loads (the path users take), else with whatever
 * `selectCompiler` picks, and says which. Unloads only the bring-up kernels, so plans the suites
 * hold stay valid.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LibraryNotFoundError } from "../src/errors.ts";
import type { Compiler } from "../src/jit/compiler.ts";
import { forgetLoadedKernels, getKernel, jitStats, resetJitStats, useCompiler, type KernelSource } from "../src/jit/jit.ts";
import { NvrtcCompiler } from "../src/jit/nvrtcCompiler.ts";
import { selectCompiler } from "../src/jit/selectCompiler.ts";
import { TMA_VARIANTS, clusterRankSource, isBringupKernel, tmaTileCopySource } from "../test/support/bringupKernels.ts";
import { ClusterRankLaunch } from "../test/support/bringupRun.ts";
import { warmCallUs } from "./host.ts";
import type { BringupHostRecord, BringupKernelTiming } from "./record.ts";
import type { BenchContext } from "./suite.ts";

/** NVRTC if it loads; otherwise the default backend, with a note saying so. */
function pickCompiler(ctx: BenchContext): Compiler {
  const nvrtc = new NvrtcCompiler();
  try {
    nvrtc.version();
    return nvrtc;
  } catch (error) {
    if (!(error instanceof LibraryNotFoundError)) throw error;
    const fallback = selectCompiler();
    ctx.note(`host.bringup: libnvrtc not found, bring-up kernels compiled with ${fallback.backend}`);
    return fallback;
  }
}

/** Wall time of one getKernel, and whether jitStats says it took the expected path. */
function timedGetKernel(ctx: BenchContext, kernel: KernelSource, expect: "miss" | "diskHit"): number | null {
  resetJitStats();
  const t0 = performance.now();
  getKernel(ctx.device, kernel);
  const ms = performance.now() - t0;
  const stats = jitStats();
  const tookPath = expect === "miss" ? stats.misses === 1 : stats.diskHits === 1;
  if (!tookPath) ctx.note(`host.bringup: ${kernel.name} did not take the ${expect} path; not recorded`);
  return tookPath ? ms : null;
}

/** Runs `fn` with BUNGEMM_CACHE_DIR set to `dir`, restoring it afterwards. */
function withCacheDir<T>(dir: string, fn: () => T): T {
  const saved = process.env.BUNGEMM_CACHE_DIR;
  process.env.BUNGEMM_CACHE_DIR = dir;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.BUNGEMM_CACHE_DIR;
    else process.env.BUNGEMM_CACHE_DIR = saved;
  }
}

export async function measureBringupHost(ctx: BenchContext): Promise<BringupHostRecord> {
  const compiler = pickCompiler(ctx);
  const kernels = [...TMA_VARIANTS.map(tmaTileCopySource), clusterRankSource()];
  const cacheDir = mkdtempSync(join(tmpdir(), "bungemm-bench-bringup-"));
  useCompiler(compiler);
  try {
    const timings = withCacheDir(cacheDir, () => {
      // Cold: nothing in memory (unloaded) and nothing on disk (fresh folder).
      forgetLoadedKernels(ctx.device, isBringupKernel);
      const cold = kernels.map((k) => timedGetKernel(ctx, k, "miss"));
      forgetLoadedKernels(ctx.device, isBringupKernel);
      return kernels.map((k, i): BringupKernelTiming => ({ name: k.name, coldCompileMs: cold[i] ?? null, cacheLoadMs: timedGetKernel(ctx, k, "diskHit") }));
    });
    using launch = new ClusterRankLaunch(ctx.device, 2, 2);
    launch.launch(1, ctx.stream);
    const warmLaunchUs = await warmCallUs(ctx, () => launch.launch(2, ctx.stream));
    const record: BringupHostRecord = { compiler: `${compiler.backend} ${compiler.version()}`, kernels: timings, warmLaunchUs };
    const fmt = (v: number | null, digits: number): string => (v === null ? "–" : v.toFixed(digits));
    for (const t of timings) ctx.log(`host.bringup: ${t.name}: cold ${fmt(t.coldCompileMs, 0)} ms, cache load ${fmt(t.cacheLoadMs, 1)} ms`);
    ctx.log(`host.bringup: warm cluster launch ${warmLaunchUs.toFixed(2)} µs (${record.compiler})`);
    return record;
  } finally {
    // Back to the settings' choice; the loaded bring-up kernels stay usable (their cubins are in memory).
    useCompiler(undefined);
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
