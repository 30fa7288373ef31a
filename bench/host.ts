/**
 * The CPU side of a call (DESIGN §8 `host`): how long a new kernel takes to compile, how long a
 * cached one takes to load, and what a warm `plan.run` costs the host.
 *
 * Runs last in `bun run bench`, on a shape no suite uses (256 x 4096 x 7168), so that unloading
 * kernels here cannot touch a plan a suite still holds. The cold compile goes to a fresh, empty
 * cache folder, so it is a real compile even where the normal cache is warm.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measure } from "mitata";
import { planFp8GemmNt, type GemmOperands, type GemmPlan } from "../src/gemm/index.ts";
import { forgetLoadedKernels, jitStats, resetJitStats, type JitStats } from "../src/jit/jit.ts";
import { alignedM, numBlocks } from "../src/quant/layout.ts";
import { memsetD8 } from "../src/runtime/memory.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import type { HostRecord } from "./record.ts";
import type { BenchContext } from "./suite.ts";

export const HOST_SHAPE = { m: 256, n: 4096, k: 7168 } as const;

/** Plans and runs once with `BUNGEMM_CACHE_DIR` pointing at `cacheDir`; returns the plan and jitStats after it. */
function planAndRunOnce(ctx: BenchContext, args: GemmOperands, cacheDir: string): { plan: GemmPlan; stats: JitStats } {
  const saved = process.env.BUNGEMM_CACHE_DIR;
  process.env.BUNGEMM_CACHE_DIR = cacheDir;
  try {
    forgetLoadedKernels(ctx.device);
    resetJitStats();
    const plan = planFp8GemmNt(ctx.device, { ...HOST_SHAPE, outDtype: "bf16" });
    plan.run(args, ctx.stream);
    ctx.stream.synchronize();
    return { plan, stats: jitStats() };
  } finally {
    if (saved === undefined) delete process.env.BUNGEMM_CACHE_DIR;
    else process.env.BUNGEMM_CACHE_DIR = saved;
  }
}

/**
 * Host CPU time of one warm launch, in microseconds: mitata's median over single launches, each
 * measured with an idle stream (synchronised before, outside the measurement) so that a full
 * launch queue never blocks the call and inflates it.
 */
export async function warmCallUs(ctx: BenchContext, launch: () => void): Promise<number> {
  const stats = await measure(
    function* () {
      yield {
        manual(): number {
          ctx.stream.synchronize();
          const t0 = Bun.nanoseconds();
          launch();
          return Bun.nanoseconds() - t0;
        },
      };
    },
    { min_cpu_time: 300e6, max_samples: 20_000 },
  );
  ctx.stream.synchronize();
  return stats.p50 / 1e3;
}

export async function measureHost(ctx: BenchContext): Promise<HostRecord> {
  const { m, n, k } = HOST_SHAPE;
  const kBlocks = numBlocks(k);
  using a = Tensor.empty(ctx.device, [m, k], "e4m3");
  using b = Tensor.empty(ctx.device, [n, k], "e4m3");
  using sfa = Tensor.empty(ctx.device, [kBlocks, alignedM(m)], "f32");
  using sfb = Tensor.empty(ctx.device, [numBlocks(n), kBlocks], "f32");
  using d = Tensor.empty(ctx.device, [m, n], "bf16");
  // Zeros: the values do not matter for host timing, but must not be NaN garbage either.
  for (const t of [a, b, sfa, sfb]) memsetD8(t, 0);
  const args = { a, sfa, b, sfb, d };

  const cacheDir = mkdtempSync(join(tmpdir(), "bungemm-bench-cache-"));
  try {
    const cold = planAndRunOnce(ctx, args, cacheDir);
    const coldCompileMs = cold.stats.misses > 0 ? (cold.stats.lastCompileMs ?? null) : null;
    if (coldCompileMs === null) ctx.note("host: the cold plan compiled nothing (a plan-level cache?); coldCompileMs not measured");
    const warm = planAndRunOnce(ctx, args, cacheDir);
    const cacheLoadMs = warm.stats.diskHits > 0 ? (warm.stats.lastLoadMs ?? null) : null;
    if (cacheLoadMs === null) ctx.note("host: the second plan did not load from the disk cache; cacheLoadMs not measured");
    const callUs = await warmCallUs(ctx, () => warm.plan.run(args, ctx.stream));
    ctx.log(
      `host: cold compile ${coldCompileMs?.toFixed(0) ?? "–"} ms, cache load ${cacheLoadMs?.toFixed(1) ?? "–"} ms, warm call ${callUs.toFixed(2)} µs`,
    );
    return { coldCompileMs, cacheLoadMs, warmCallUs: callUs };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
