/**
 * `bun run bench`: measures bungemm against cuBLASLt on this machine's first GPU and writes the
 * DESIGN §8 record (bench/results/latest.json, a dated copy, latest.md).
 *
 * Order: copy bandwidth (the memory ceiling of this run) → suites (dense; grouped and quant where
 * bench/grouped.ts, bench/quant.ts exist) → host-side costs (GEMM, then the bring-up kernels) → record
 * (plus bench/results/foundation-<date>.md with the bring-up timings). Exits 2 where no GPU can be
 * used, 1 when a suite or shape failed (the record is still written), 0 otherwise.
 *
 * Options: --suite NAME (repeatable; default all), --runs N (timed runs, default 20),
 * --warmup N (default 3).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LibraryNotFoundError } from "../src/errors.ts";
import { Device, driverVersion } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { selectCompiler } from "../src/jit/selectCompiler.ts";
import { measureCopyTBs } from "./copyBandwidth.ts";
import { CublasLt } from "./cublasLt.ts";
import { suite as denseSuite } from "./dense.ts";
import { measureHost } from "./host.ts";
import { measureBringupHost } from "./bringupHost.ts";
import { measureClockFloorUs } from "./clockFloor.ts";
import { writeFoundationReport } from "./foundationReport.ts";
import { buildRecord, renderMarkdown, writeRecord, type BenchRow, type HostRecord } from "./record.ts";
import { isBenchSuite, type BenchContext, type BenchSuite } from "./suite.ts";
import { KernelTimer } from "./timing.ts";

const RESULTS_DIR = join(import.meta.dir, "results");
/** Suites other people own; loaded only where the file exists, so the bench runs before they land. */
const OPTIONAL_SUITES = ["grouped.ts", "quant.ts"];

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function openDevice(): Device | undefined {
  try {
    return Device.get(0);
  } catch (error) {
    if (error instanceof LibraryNotFoundError) {
      console.error(`bench: no CUDA driver was found, so there is nothing to measure on this machine.\n${error.message}`);
    } else {
      console.error(`bench: the CUDA driver loaded but no GPU can be used: ${message(error)}`);
    }
    return undefined;
  }
}

async function loadSuites(only: readonly string[], note: (text: string) => void): Promise<BenchSuite[]> {
  const suites: BenchSuite[] = [denseSuite];
  for (const file of OPTIONAL_SUITES) {
    const path = join(import.meta.dir, file);
    if (!existsSync(path)) continue;
    try {
      const mod: unknown = await import(path);
      const candidate = (mod as { suite?: unknown }).suite;
      if (isBenchSuite(candidate)) suites.push(candidate);
      else note(`bench/${file} does not export a BenchSuite named "suite"; skipped`);
    } catch (error) {
      note(`bench/${file} could not be loaded: ${message(error)}`);
    }
  }
  return only.length === 0 ? suites : suites.filter((s) => only.includes(s.name));
}

/** The NVRTC version for the record, or null where kernels are compiled with NVCC. */
function nvrtcVersion(note: (text: string) => void): string | null {
  try {
    const compiler = selectCompiler();
    return compiler.backend === "nvrtc" ? compiler.version() : null;
  } catch (error) {
    note(`no kernel compiler: ${message(error)}`);
    return null;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      suite: { type: "string", multiple: true, default: [] },
      runs: { type: "string", default: "20" },
      warmup: { type: "string", default: "3" },
    },
  });
  const device = openDevice();
  if (device === undefined) return 2;

  const notes: string[] = [];
  let failures = 0;
  const note = (text: string): void => {
    notes.push(text);
    console.log(`note: ${text}`);
  };
  const stream = Stream.create(device);
  using timer = KernelTimer.create(device, stream);
  console.log(`bench: ${device.name} (${device.arch}, ${device.smCount} SMs), driver ${driverVersion()}, bun ${Bun.version}`);

  const copyTBs = measureCopyTBs(device, timer);
  console.log(`bench: device-to-device copy ${copyTBs.toFixed(2)} TB/s (read + write)`);

  let cublasLt: CublasLt | undefined;
  let cublasLtMissing: string | undefined;
  try {
    cublasLt = CublasLt.open(device);
    console.log(`bench: cuBLASLt ${cublasLt.version()} from ${cublasLt.path}`);
  } catch (error) {
    cublasLtMissing = message(error);
    note(`cuBLASLt not available, no baseline ratios: ${cublasLtMissing}`);
  }

  const ctx: BenchContext = {
    device,
    stream,
    timer,
    timing: { runs: Number(values.runs), warmup: Number(values.warmup) },
    cublasLt,
    cublasLtMissing,
    copyTBs,
    log: (line) => console.log(line),
    note,
    error: (text) => {
      failures++;
      note(text);
    },
  };

  const rows: BenchRow[] = [];
  for (const suite of await loadSuites(values.suite ?? [], note)) {
    console.log(`bench: suite ${suite.name}`);
    try {
      rows.push(...(await suite.run(ctx)));
    } catch (error) {
      ctx.error(`suite ${suite.name} failed: ${message(error)}`);
    }
  }

  let host: HostRecord = { coldCompileMs: null, cacheLoadMs: null, warmCallUs: null };
  try {
    host = await measureHost(ctx);
  } catch (error) {
    ctx.error(`host measurements failed: ${message(error)}`);
  }
  try {
    host.clockFloorUs = measureClockFloorUs(ctx);
    console.log(`bench: clock floor (empty kernel, same clock) ${host.clockFloorUs.toFixed(2)} µs`);
  } catch (error) {
    ctx.error(`clock floor measurement failed: ${message(error)}`);
  }
  try {
    host.bringup = await measureBringupHost(ctx);
  } catch (error) {
    ctx.error(`bring-up host measurements failed: ${message(error)}`);
  }

  const record = buildRecord({
    gpu: device.name,
    driver: driverVersion(),
    nvrtc: nvrtcVersion(note),
    cublasLt: cublasLt?.version() ?? null,
    copyTBs,
    rows,
    host,
    notes,
    bun: Bun.version,
  });
  const paths = writeRecord(record, RESULTS_DIR);
  const foundation = writeFoundationReport(record, RESULTS_DIR);
  if (foundation !== undefined) paths.push(foundation);
  console.log(`\n${renderMarkdown(record)}`);
  console.log(`bench: wrote ${paths.join(", ")}`);

  cublasLt?.dispose();
  stream.dispose();
  return failures > 0 || rows.length === 0 ? 1 : 0;
}

process.exit(await main());
