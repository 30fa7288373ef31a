/**
 * What a benchmark suite is and what it gets from `bench/main.ts`.
 *
 * A suite module (bench/dense.ts; bench/grouped.ts and bench/quant.ts where present) exports
 * `suite: BenchSuite`. `run` measures with `ctx.timer` (L2 flushed, CUDA events, median), queues
 * all GPU work on `ctx.stream`, frees what it allocated, and returns DESIGN §8 rows. A shape that
 * fails is reported with `ctx.error` and left out; the other shapes still run.
 */
import type { Device } from "../src/runtime/device.ts";
import type { Stream } from "../src/runtime/stream.ts";
import type { CublasLt } from "./cublasLt.ts";
import type { BenchRow } from "./record.ts";
import type { KernelTimer, TimingOptions } from "./timing.ts";

export interface BenchContext {
  device: Device;
  stream: Stream;
  timer: KernelTimer;
  /** Warm-up and timed-run counts every suite uses. */
  timing: TimingOptions;
  /** The cuBLASLt baseline, or undefined with the reason in `cublasLtMissing`. */
  cublasLt: CublasLt | undefined;
  cublasLtMissing: string | undefined;
  /** Copy bandwidth measured at the start of this run, TB/s (read + write). */
  copyTBs: number;
  /** A progress line on the console. */
  log(line: string): void;
  /** A remark that goes into the record's `notes` (and the console). */
  note(text: string): void;
  /** A failure: noted like `note`, and `bun run bench` exits non-zero at the end. */
  error(text: string): void;
}

export interface BenchSuite {
  /** Short name for logs: "dense", "grouped", "quant". */
  name: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** Whether a dynamically imported module's `suite` export looks like a BenchSuite. */
export function isBenchSuite(value: unknown): value is BenchSuite {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as { name?: unknown; run?: unknown };
  return typeof candidate.name === "string" && typeof candidate.run === "function";
}
