/**
 * CUDA events, for ordering and for timing kernels (the benchmark's clock).
 */
import { checkCuda, driver } from "../ffi/cuda.ts";
import { EventFlags } from "../ffi/cudaConstants.ts";
import type { Device } from "./device.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";
import type { Stream } from "./stream.ts";

const EVENT_DESTROY: Destroyer = { call: "cuEventDestroy_v2", destroy: (h) => driver().cuEventDestroy_v2(h) };

// Reused out-parameter: elapsedMs is called in timing loops and must not allocate.
const elapsedOut = new Float32Array(1);

export class Event extends DriverHandle {
  private constructor(device: Device, handle: bigint) {
    super(device, handle, "Event", EVENT_DESTROY);
  }

  /**
   * A new event. Timing is on by default; pass `{ timing: false }` for a cheaper event used only
   * for ordering. `blockingSync` makes synchronize() sleep instead of spinning.
   */
  static create(device: Device, options: { timing?: boolean; blockingSync?: boolean } = {}): Event {
    device.activate();
    let flags: number = EventFlags.CU_EVENT_DEFAULT;
    if (options.timing === false) flags |= EventFlags.CU_EVENT_DISABLE_TIMING;
    if (options.blockingSync) flags |= EventFlags.CU_EVENT_BLOCKING_SYNC;
    const out = new BigUint64Array(1);
    checkCuda("cuEventCreate", driver().cuEventCreate(out, flags));
    return new Event(device, out[0] ?? 0n);
  }

  /** Milliseconds between two recorded, completed events (`end` after `start`). */
  static elapsedMs(start: Event, end: Event): number {
    checkCuda("cuEventElapsedTime_v2", driver().cuEventElapsedTime_v2(elapsedOut, start.handle, end.handle));
    return elapsedOut[0] ?? Number.NaN;
  }

  /** The CUevent. @throws DisposedError after dispose(). */
  get handle(): bigint {
    return this.liveHandle;
  }

  /** Records the event on `stream` (the legacy default stream when omitted). */
  record(stream?: Stream): void {
    checkCuda("cuEventRecord", driver().cuEventRecord(this.handle, stream ? stream.handle : 0n));
  }

  /** Blocks until the work before the last record() is done. */
  synchronize(): void {
    checkCuda("cuEventSynchronize", driver().cuEventSynchronize(this.handle));
  }

  /** Same as `Event.elapsedMs(start, end)`, callable on an instance. */
  elapsedMs(start: Event, end: Event): number {
    return Event.elapsedMs(start, end);
  }
}
