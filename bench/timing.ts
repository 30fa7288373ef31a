/**
 * The benchmark's clock (DESIGN §6): flush L2 before every timed call, time the call alone with
 * CUDA events on one stream, report the median.
 *
 * Per call:  memsetD32Async(flush buffer)  →  start.record  →  fn()  →  end.record  →  end.synchronize
 *
 * The flush writes 512 MiB, about ten times the H200's L2 (60 MB), so no operand of the previous
 * call is still cached; it runs before `start` on the same stream, so it is outside the timed
 * region. It also keeps the GPU busy for a few hundred microseconds while the host enqueues
 * `start` and the launch, so the events measure the kernel rather than the host's launch latency.
 */
import type { Device } from "../src/runtime/device.ts";
import { Event } from "../src/runtime/event.ts";
import { DeviceBuffer, memsetD32 } from "../src/runtime/memory.ts";
import type { Stream } from "../src/runtime/stream.ts";
import { median } from "./metrics.ts";

export interface Timing {
  /** Median over the timed runs, microseconds. */
  medianUs: number;
  minUs: number;
  /** Number of timed runs (warm-up runs not counted). */
  runs: number;
}

export interface TimingOptions {
  /** Untimed calls first: JIT, cuBLASLt's first-call setup, clocks ramping up. Default 3. */
  warmup?: number;
  /** Timed calls. Default 20. */
  runs?: number;
  /** Keep warming up until this much wall time has passed (ms). Default 50. */
  minWarmupMs?: number;
}

/** 512 MiB: several times any Hopper L2, small next to the operands of the large shapes. */
export const L2_FLUSH_BYTES = 512 * 1024 * 1024;

export class KernelTimer implements Disposable {
  private flushValue = 0;

  private constructor(
    readonly stream: Stream,
    private readonly flushBuffer: DeviceBuffer,
    private readonly start: Event,
    private readonly end: Event,
    private readonly afterFlush: (() => void) | undefined,
  ) {}

  /**
   * A timer that queues everything on `stream`; `flushBytes` sizes the L2 flush buffer. `afterFlush`
   * (probes only, never the record) queues more untimed work between the flush and `start`.
   */
  static create(device: Device, stream: Stream, options: { flushBytes?: number; afterFlush?: () => void } = {}): KernelTimer {
    const flush = DeviceBuffer.alloc(device, options.flushBytes ?? L2_FLUSH_BYTES);
    return new KernelTimer(stream, flush, Event.create(device), Event.create(device), options.afterFlush);
  }

  /**
   * Times `fn`, which must queue its GPU work on this timer's stream and nothing else.
   * @throws whatever `fn` or the driver throws; a failed call is never averaged in.
   */
  time(fn: () => void, options: TimingOptions = {}): Timing {
    const warmup = options.warmup ?? 3;
    const runs = options.runs ?? 20;
    if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer (got ${runs})`);
    // Warm up for a minimum wall time as well as a count: after a JIT compile or a host-side data
    // upload the GPU has idled and its clocks are low; a few calls were seen not to be enough (the
    // first configuration timed after an upload ran up to 1.5x slower in bench/tune.ts sweeps).
    const warmupUntil = performance.now() + (options.minWarmupMs ?? 50);
    for (let i = 0; i < warmup || performance.now() < warmupUntil; i++) this.timeOnce(fn);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) samples.push(this.timeOnce(fn));
    return { medianUs: median(samples), minUs: Math.min(...samples), runs };
  }

  /**
   * Times several calls against each other: warm-up as in `time`, then `runs` rounds that each time
   * every call once, in order. A ratio of two medians then compares calls made under the same clock
   * and temperature (timed one after the other, the same configuration drifted 5-8% between blocks
   * of runs minutes apart on one card).
   * @returns one Timing per call, in the order given.
   */
  timeInterleaved(fns: readonly (() => void)[], options: TimingOptions = {}): Timing[] {
    const warmup = options.warmup ?? 3;
    const runs = options.runs ?? 20;
    if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer (got ${runs})`);
    const warmupUntil = performance.now() + (options.minWarmupMs ?? 50);
    for (let i = 0; i < warmup || performance.now() < warmupUntil; i++) for (const fn of fns) this.timeOnce(fn);
    const samples = fns.map((): number[] => []);
    for (let i = 0; i < runs; i++) fns.forEach((fn, j) => samples[j]?.push(this.timeOnce(fn)));
    return samples.map((s) => ({ medianUs: median(s), minUs: Math.min(...s), runs }));
  }

  private timeOnce(fn: () => void): number {
    // A different value each time, so no layer can skip the write as a repeat.
    this.flushValue = (this.flushValue + 1) & 0xffff;
    memsetD32(this.flushBuffer, this.flushValue, this.stream);
    this.afterFlush?.();
    this.start.record(this.stream);
    fn();
    this.end.record(this.stream);
    this.end.synchronize();
    return Event.elapsedMs(this.start, this.end) * 1000;
  }

  dispose(): void {
    this.start.dispose();
    this.end.dispose();
    this.flushBuffer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
