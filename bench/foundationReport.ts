/**
 * bench/results/foundation-<date>.md: the bring-up kernels' host timings with the GPU and date,
 * a small page for the "proof on the H200" issue. Written by `bun run bench`, never by hand.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchRecord } from "./record.ts";

const fixed = (v: number | null | undefined, digits: number): string => (v == null || !Number.isFinite(v) ? "–" : v.toFixed(digits));

/** The page for `record`, or undefined where the record has no bring-up timings. */
export function renderFoundationReport(record: Pick<BenchRecord, "date" | "gpu" | "driver" | "bun" | "host">): string | undefined {
  const bringup = record.host.bringup;
  if (bringup === undefined) return undefined;
  const lines = [
    `# Foundation host timings ${record.date} — ${record.gpu}`,
    "",
    `Driver ${record.driver}, ${bringup.compiler}, Bun ${record.bun}. Kernels: cuda/bungemm/test/ (TMA tile copy, 2-CTA cluster rank + DSMEM).`,
    "Cold compile: getKernel with an empty cache folder (compile, cache write, module load). Cache load: getKernel after",
    "unloading (disk read, verify, module load). Warm launch: mitata median of the CPU time of one launch, stream idle.",
    "",
    "| kernel | cold compile ms | cache load ms |",
    "|---|---:|---:|",
    ...bringup.kernels.map((k) => `| ${k.name} | ${fixed(k.coldCompileMs, 0)} | ${fixed(k.cacheLoadMs, 2)} |`),
    "",
    `- warm launch of the cluster kernel (getKernel memory hit + cuLaunchKernelEx with a cluster): **${fixed(bringup.warmLaunchUs, 2)} µs**`,
    `- warm \`plan.run\` of a dense FP8 GEMM (bench/host.ts): **${fixed(record.host.warmCallUs, 2)} µs**; its cold compile ${fixed(record.host.coldCompileMs, 0)} ms, cache load ${fixed(record.host.cacheLoadMs, 1)} ms`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Writes the page into `dir` as foundation-<date>.md; returns its path, or undefined where there was nothing to write. */
export function writeFoundationReport(record: Pick<BenchRecord, "date" | "gpu" | "driver" | "bun" | "host">, dir: string): string | undefined {
  const text = renderFoundationReport(record);
  if (text === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `foundation-${record.date}.md`);
  writeFileSync(path, text);
  return path;
}
