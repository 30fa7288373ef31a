/**
 * Clocks and power while a dense GEMM runs back to back, ours against cuBLASLt (unit scales), to
 * tell a power-capped loss from a loss in cycles (not part of `bun run bench`):
 *   bun bench/clocks.ts [--shapes M,N,K;M,N,K...] [--seconds S]
 * Each kernel is timed like the benchmark (L2 flushed, CUDA events, median) for about S seconds,
 * twice, alternating with cuBLASLt, while `nvidia-smi` samples the SM clock, the board power and
 * the throttle reasons every 20 ms. It only reads them: the clocks are never set. Prints one line
 * per phase: median µs, mean SM MHz, mean W, and the cycles of one call at that clock.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { planFp8GemmNt } from "../src/gemm/index.ts";
import { makeDenseHostInputs } from "./inputs.ts";
import { CublasLt, planCublasLtFp8 } from "./cublasLt.ts";
import { uploadDenseInputs } from "./dense.ts";
import { parseRows } from "./sweepArgs.ts";
import { KernelTimer } from "./timing.ts";

/** One nvidia-smi sample: epoch ms, SM MHz, board W, throttle-reason bit mask. */
export interface ClockSample {
  ms: number;
  smMhz: number;
  watts: number;
  reasons: string;
}

/**
 * Parses `nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_event_reasons.active
 * --format=csv,noheader,nounits` lines; the timestamp is local time, as Date.now() counts it.
 */
export function parseClockSamples(text: string): ClockSample[] {
  const samples: ClockSample[] = [];
  for (const line of text.split("\n")) {
    const [stamp, mhz, watts, reasons] = line.split(",").map((f) => f.trim());
    const ms = stamp === undefined ? Number.NaN : new Date(stamp.replaceAll("/", "-").replace(" ", "T")).getTime();
    if (!Number.isFinite(ms) || mhz === undefined || watts === undefined) continue;
    samples.push({ ms, smMhz: Number(mhz), watts: Number(watts), reasons: reasons ?? "" });
  }
  return samples;
}

/** Mean clock and power of the samples inside [fromMs, toMs]; undefined when there are none. */
export function phaseMeans(samples: readonly ClockSample[], fromMs: number, toMs: number): { smMhz: number; watts: number; reasons: string[]; count: number } | undefined {
  const inside = samples.filter((s) => s.ms >= fromMs && s.ms <= toMs);
  if (inside.length === 0) return undefined;
  const mean = (f: (s: ClockSample) => number): number => inside.reduce((a, s) => a + f(s), 0) / inside.length;
  return { smMhz: mean((s) => s.smMhz), watts: mean((s) => s.watts), reasons: [...new Set(inside.map((s) => s.reasons))].sort(), count: inside.length };
}

if (import.meta.main) {
  const argv = Bun.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const shapes = parseRows(arg("--shapes") ?? "4096,7168,16384;8192,8192,8192;4096,4096,7168") as [number, number, number][];
  const seconds = Number(arg("--seconds") ?? "1.5");

  const device = Device.get(0);
  using stream = Stream.create(device);
  using timer = KernelTimer.create(device, stream);
  using lt = CublasLt.open(device);
  const dir = mkdtempSync(join(tmpdir(), "bungemm-clocks-"));
  const log = join(dir, "smi.csv");
  const smi = Bun.spawn(
    ["nvidia-smi", "--query-gpu=timestamp,clocks.sm,power.draw,clocks_event_reasons.active", "--format=csv,noheader,nounits", "-lms", "20"],
    { stdout: Bun.file(log), stderr: "inherit" },
  );
  const phases: { label: string; from: number; to: number; us: number }[] = [];
  try {
    for (const [m, n, k] of shapes) {
      using inputs = uploadDenseInputs(device, makeDenseHostInputs(m, n, k));
      const plan = planFp8GemmNt(device, { m, n, k, outDtype: "bf16" });
      const baseline = planCublasLtFp8(lt, m, n, k, { scaling: "unit" });
      if (!baseline.ok) throw new Error(`cuBLASLt ${m}x${n}x${k}: ${baseline.reason}`);
      using ltPlan = baseline.plan;
      const calls = {
        ours: () => plan.run(inputs, stream),
        cuBLASLt: () => ltPlan.run(inputs.a, inputs.b, inputs.d, undefined, undefined, stream),
      };
      // Runs that fill about `seconds` at ~1.2 PFLOPS plus the flush.
      const runs = Math.max(20, Math.round(seconds / ((2 * m * n * k) / 1.2e15 + 0.2e-3)));
      for (const name of ["ours", "cuBLASLt", "ours", "cuBLASLt"] as const) {
        Bun.sleepSync(700); // let the previous phase's clock settle out of this one's window
        const from = Date.now();
        const { medianUs } = timer.time(calls[name], { runs, warmup: 3 });
        // The first 200 ms (warm-up, the clock still moving) stay out of the phase's means.
        phases.push({ label: `${m}x${n}x${k} ${name}`, from: from + 200, to: Date.now(), us: medianUs });
      }
    }
  } finally {
    smi.kill();
    await smi.exited;
  }
  const samples = parseClockSamples(readFileSync(log, "utf8"));
  rmSync(dir, { recursive: true, force: true });
  for (const p of phases) {
    const s = phaseMeans(samples, p.from, p.to);
    const clock = s === undefined ? "no clock samples" : `${s.smMhz.toFixed(0)} MHz, ${s.watts.toFixed(0)} W, ${((p.us * s.smMhz) / 1e3).toFixed(0)} kcycles, reasons ${s.reasons.join(" ")} (${s.count} samples)`;
    console.log(`${p.label.padEnd(26)} ${p.us.toFixed(1).padStart(8)} us  ${clock}`);
  }
}
