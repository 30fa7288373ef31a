/**
 * The benchmark record (DESIGN §8): one JSON document per run, so any run can be compared with any
 * other by a script, plus a markdown rendering for people.
 *
 * `bun run bench` writes bench/results/latest.json, bench/results/<date>-<gpu-slug>.json (the same
 * document) and bench/results/latest.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { geomean } from "./metrics.ts";
import { renderSameCard, sameCardSummary, type SameCardSummary } from "./sameCard.ts";

export type RowKind = "dense" | "contiguous" | "masked" | "quant-token" | "quant-block";

/** The tile configuration a row ran with, as the heuristics chose it (free-form beyond these). */
export interface RowConfig {
  blockM?: number;
  blockN?: number;
  stages?: number;
  cluster?: number;
  [field: string]: number | string | boolean | undefined;
}

/** One baseline's outcome for a row: its time, or why it could not run. */
export type BaselineResult = { us: number; relError: number | null } | { unsupported: string };

export interface BenchRow {
  kind: RowKind;
  m: number;
  n: number;
  k: number;
  groups: number;
  /** Median kernel time in microseconds (L2 flushed before each call). */
  us: number;
  tflops: number;
  gbps: number;
  /** cuBLASLt (plain FP8, unit scales) time / ours, same shape, same run; null where it did not run. */
  vsCublasLt: number | null;
  /** cuBLASLt with the same 1x128 / 128x128 block scaling, time / ours; null where unsupported. */
  vsCublasLtBlock: number | null;
  /** ‖ours − f64 reference‖ / ‖reference‖ over sampled outputs, same inputs; null where not checked. */
  relError: number | null;
  config: RowConfig | null;
  /** The baselines' own numbers behind the two ratios. */
  baselines?: { cublasLt?: BaselineResult; cublasLtBlock?: BaselineResult };
}

export interface HostRecord {
  /** One kernel compiled from scratch (NVRTC or NVCC), milliseconds. */
  coldCompileMs: number | null;
  /** One kernel loaded from the disk cache into a fresh in-memory map, milliseconds. */
  cacheLoadMs: number | null;
  /** CPU time of one warm `plan.run` launch, microseconds. */
  warmCallUs: number | null;
  /** An empty kernel timed like every row (bench/clockFloor.ts), µs: the part of each time that is the clock's own. */
  clockFloorUs?: number | null;
  /** The same costs for the bring-up kernels of cuda/bungemm/test/ (bench/bringupHost.ts); absent where not measured. */
  bringup?: BringupHostRecord;
}

/** Host costs of the small bring-up kernels: the JIT path without the GEMM's compile weight. */
export interface BringupHostRecord {
  /** What compiled them, e.g. "nvrtc 13.0" (NVCC only where libnvrtc was not found). */
  compiler: string;
  kernels: BringupKernelTiming[];
  /** CPU time of one warm launch of the 2-CTA-cluster kernel (getKernel memory hit, argument write, cuLaunchKernelEx), µs. */
  warmLaunchUs: number | null;
}

export interface BringupKernelTiming {
  name: string;
  /** getKernel with an empty cache folder: compile, cache write, module load; ms. */
  coldCompileMs: number | null;
  /** getKernel after unloading it: disk read, verify, module load; ms. */
  cacheLoadMs: number | null;
}

export interface GeomeanSummary {
  value: number | null;
  /** Rows that had the ratio (the others are left out of the mean). */
  rows: number;
}

export interface RecordSummary {
  denseVsCublasLt: GeomeanSummary;
  denseVsCublasLtM4096: GeomeanSummary;
  denseVsCublasLtBlock: GeomeanSummary;
  denseVsCublasLtBlockM4096: GeomeanSummary;
  /** DESIGN §6's DeepGEMM figures carried over to this run's card through cuBLASLt (bench/sameCard.ts). */
  sameCard: SameCardSummary;
}

export interface BenchRecord {
  /** YYYY-MM-DD (UTC). */
  date: string;
  gpu: string;
  /** cuDriverGetVersion, e.g. 13000. */
  driver: number;
  /** NVRTC version "13.0", or null where the NVCC backend compiled. */
  nvrtc: string | null;
  /** cuBLASLt version (cublasLtGetVersion, e.g. 130000), null where the library was not found. */
  cublasLt: number | null;
  /** Device-to-device copy bandwidth measured in this run, TB/s counting bytes read + written. */
  copyTBs: number;
  rows: BenchRow[];
  host: HostRecord;
  summary: RecordSummary;
  /** Things a reader must know to trust the numbers (a skipped suite, an unsupported baseline). */
  notes: string[];
  bun: string;
}

/** The record without the parts derived from it. */
export type RecordInput = Omit<BenchRecord, "summary" | "date"> & { date?: string };

/** Geomeans of the dense rows' ratios: over every dense row, and over the M = 4096 rows. */
export function summarizeRows(rows: readonly BenchRow[]): RecordSummary {
  const dense = rows.filter((r) => r.kind === "dense");
  const large = dense.filter((r) => r.m === 4096);
  const mean = (list: readonly BenchRow[], pick: (r: BenchRow) => number | null): GeomeanSummary => {
    const values = list.map(pick).filter((v): v is number => v !== null && v > 0 && Number.isFinite(v));
    return { value: geomean(values), rows: values.length };
  };
  return {
    denseVsCublasLt: mean(dense, (r) => r.vsCublasLt),
    denseVsCublasLtM4096: mean(large, (r) => r.vsCublasLt),
    denseVsCublasLtBlock: mean(dense, (r) => r.vsCublasLtBlock),
    denseVsCublasLtBlockM4096: mean(large, (r) => r.vsCublasLtBlock),
    sameCard: sameCardSummary(rows),
  };
}

/** "NVIDIA H200" → "nvidia-h200": safe in a file name. */
export function gpuSlug(gpu: string): string {
  const slug = gpu
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug === "" ? "unknown-gpu" : slug;
}

/** Today's date as YYYY-MM-DD in UTC (one run, one date, wherever it ran). */
export function isoDate(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

export function buildRecord(input: RecordInput): BenchRecord {
  return { ...input, date: input.date ?? isoDate(), summary: summarizeRows(input.rows) };
}

/** The file names a record is written under, relative to the results folder. */
export function recordFileNames(record: Pick<BenchRecord, "date" | "gpu">): { latestJson: string; datedJson: string; latestMd: string } {
  return { latestJson: "latest.json", datedJson: `${record.date}-${gpuSlug(record.gpu)}.json`, latestMd: "latest.md" };
}

/** Writes the record's three files into `dir` (created if needed); returns their paths. */
export function writeRecord(record: BenchRecord, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const names = recordFileNames(record);
  const json = `${JSON.stringify(record, null, 2)}\n`;
  const paths = [join(dir, names.latestJson), join(dir, names.datedJson), join(dir, names.latestMd)];
  writeFileSync(paths[0]!, json);
  writeFileSync(paths[1]!, json);
  writeFileSync(paths[2]!, renderMarkdown(record));
  return paths;
}

const fixed = (v: number | null | undefined, digits: number): string => (v == null || !Number.isFinite(v) ? "–" : v.toFixed(digits));
const sci = (v: number | null | undefined): string => (v == null || !Number.isFinite(v) ? "–" : v.toExponential(1));

/**
 * "128x160 s5 c2 pipe" from a GEMM row's config (the fields the heuristics choose); for the
 * quantization rows, the input dtype and the share of a same-size copy's bandwidth.
 */
export function formatConfig(config: RowConfig | null): string {
  if (config === null) return "–";
  const tile = config.blockM !== undefined && config.blockN !== undefined ? `${config.blockM}x${config.blockN}` : "";
  const sameSize = typeof config.sameSizeCopyFraction === "number" ? `${(100 * config.sameSizeCopyFraction).toFixed(0)}% of a same-size copy` : "";
  const parts = [
    tile,
    config.stages !== undefined ? `s${config.stages}` : "",
    config.cluster !== undefined ? `c${config.cluster}` : "",
    config.pipelinedPromotion === true ? "pipe" : "",
    config.splitLastRound === true ? "splitk" : "",
    typeof config.inDtype === "string" ? config.inDtype : "",
    sameSize,
  ];
  const text = parts.filter((p) => p !== "").join(" ");
  return text === "" ? "–" : text;
}

function formatBaseline(result: BaselineResult | undefined): string {
  if (result === undefined) return "–";
  return "us" in result ? result.us.toFixed(1) : "n/a";
}

function formatGeomean(g: GeomeanSummary): string {
  return g.value === null ? "– (no rows)" : `${g.value.toFixed(3)} over ${g.rows} rows`;
}

/** The record as a readable markdown page: context, one table row per benchmark row, the geomeans. */
export function renderMarkdown(record: BenchRecord): string {
  const lines: string[] = [];
  lines.push(`# Benchmark ${record.date} — ${record.gpu}`, "");
  lines.push(
    `Driver ${record.driver}, NVRTC ${record.nvrtc ?? "– (NVCC backend)"}, cuBLASLt ${record.cublasLt ?? "– (not found)"}, ` +
      `Bun ${record.bun}. Device-to-device copy: **${record.copyTBs.toFixed(2)} TB/s** (read + write), measured in this run.`,
    "",
    "Times are medians of CUDA-event timings with L2 flushed before every call. Ratios are the baseline's time " +
      "divided by ours (> 1: we are faster). `% copy` is GB/s against the copy bandwidth above.",
    "",
  );
  lines.push(
    "| kind | M | N | K | G | µs | TFLOPS | GB/s | % copy | cuBLASLt µs | vs cuBLASLt | cuBLASLt block µs | vs block | rel. error | config |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  );
  for (const r of record.rows) {
    const copyShare = record.copyTBs > 0 ? (100 * r.gbps) / (record.copyTBs * 1000) : null;
    lines.push(
      `| ${r.kind} | ${r.m} | ${r.n} | ${r.k} | ${r.groups} | ${fixed(r.us, 1)} | ${fixed(r.tflops, 0)} | ${fixed(r.gbps, 0)} | ` +
        `${fixed(copyShare, 0)} | ${formatBaseline(r.baselines?.cublasLt)} | ${fixed(r.vsCublasLt, 2)} | ` +
        `${formatBaseline(r.baselines?.cublasLtBlock)} | ${fixed(r.vsCublasLtBlock, 2)} | ${sci(r.relError)} | ${formatConfig(r.config)} |`,
    );
  }
  const s = record.summary;
  lines.push(
    "",
    "Geomean of the ratios (dense rows):",
    "",
    `- vs cuBLASLt, all: ${formatGeomean(s.denseVsCublasLt)}`,
    `- vs cuBLASLt, M = 4096: ${formatGeomean(s.denseVsCublasLtM4096)}`,
    `- vs cuBLASLt block-scaled, all: ${formatGeomean(s.denseVsCublasLtBlock)}`,
    `- vs cuBLASLt block-scaled, M = 4096: ${formatGeomean(s.denseVsCublasLtBlockM4096)}`,
    ...renderSameCard(s.sameCard),
    "",
    `Host: cold compile ${fixed(record.host.coldCompileMs, 0)} ms, cache load ${fixed(record.host.cacheLoadMs, 1)} ms, ` +
      `warm call ${fixed(record.host.warmCallUs, 1)} µs of CPU.`,
  );
  if (record.host.clockFloorUs !== undefined) {
    lines.push(
      "",
      `Clock floor: an empty kernel timed like every row (flush, events, one launch) takes ${fixed(record.host.clockFloorUs, 2)} µs; ` +
        "every time above includes it. A profiler's duration of the same launch is shorter by part of it: " +
        "1.2–1.9 µs by ncu (docs/perf-notes.md, run 38; the empty kernel itself lasts 1.25 µs there).",
    );
  }
  const bringup = record.host.bringup;
  if (bringup !== undefined) {
    const kernels = bringup.kernels.map((k) => `${k.name} ${fixed(k.coldCompileMs, 0)} / ${fixed(k.cacheLoadMs, 1)} ms`).join(", ");
    lines.push(
      "",
      `Bring-up kernels (${bringup.compiler}; cold compile / cache load): ${kernels}; warm launch ${fixed(bringup.warmLaunchUs, 1)} µs of CPU.`,
    );
  }
  if (record.notes.length > 0) {
    lines.push("", "Notes:", "", ...record.notes.map((n) => `- ${n}`));
  }
  return `${lines.join("\n")}\n`;
}
