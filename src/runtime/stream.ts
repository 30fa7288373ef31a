/**
 * CUDA streams. A stream also keeps alive the host buffers of async copies queued on it until it
 * is synchronised (the bun:ffi lifetime rule: C may read JS memory until the copy is done).
 */
import { checkCuda, driver } from "../ffi/cuda.ts";
import { StreamFlags } from "../ffi/cudaConstants.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Device, HostRefHolder } from "./device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";
import type { DeviceBuffer } from "./memory.ts";

const STREAM_DESTROY: Destroyer = { call: "cuStreamDestroy_v2", destroy: (h) => driver().cuStreamDestroy_v2(h) };

const defaultStreams = new WeakMap<Device, Stream>();

/**
 * What captured work reads or writes: device memory and kernels (which have `disposed`) and the host
 * views of async copies. A graph keeps every one of them referenced for its life and refuses to
 * replay once any of them was disposed, since a replay would reach freed memory or unloaded code.
 */
export type CapturedResource = { readonly disposed: boolean } | ArrayBufferView;

/** One captured launch or copy: what it is (for the error) and what it uses. */
export interface CapturedUse {
  readonly what: string;
  readonly resources: readonly CapturedResource[];
}

/** What one capture recorded: the uses of its work, and the scratch buffers made for it alone. */
export interface CaptureRecord {
  readonly uses: CapturedUse[];
  readonly scratch: DeviceBuffer[];
}

export class Stream extends DriverHandle implements HostRefHolder {
  private hostRefs: object[] = [];
  private captureUses: CapturedUse[] | undefined;
  private captureScratch: Map<object, DeviceBuffer> | undefined;

  private constructor(device: Device, handle: bigint, owned: boolean) {
    super(device, handle, "Stream", owned ? STREAM_DESTROY : undefined);
  }

  /**
   * A new stream on `device`. By default it synchronises with the legacy default stream, so work
   * queued there (plain copies, other libraries) is ordered before it: a pageable-memory copy
   * returns before its DMA ends, and a non-blocking stream could race it. Pass `nonBlocking` to opt out.
   */
  static create(device: Device, options: { nonBlocking?: boolean } = {}): Stream {
    device.activate();
    const out = new BigUint64Array(1);
    const flags = options.nonBlocking ? StreamFlags.CU_STREAM_NON_BLOCKING : StreamFlags.CU_STREAM_DEFAULT;
    checkCuda("cuStreamCreate", driver().cuStreamCreate(out, flags));
    return new Stream(device, out[0] ?? 0n, true);
  }

  /** The legacy default stream (handle 0n) of `device`; one shared object per device, never destroyed. */
  static default(device: Device): Stream {
    let stream = defaultStreams.get(device);
    if (!stream) {
      stream = new Stream(device, 0n, false);
      defaultStreams.set(device, stream);
    }
    return stream;
  }

  /** The CUstream (0n for the default stream). @throws DisposedError after dispose(). */
  get handle(): bigint {
    return this.liveHandle;
  }

  /** Keeps `value` (a host buffer an async copy reads or writes) alive until the next synchronize(). */
  retainUntilSync(value: object): void {
    // Registered with the device only while holding something, so that Device.synchronize() can
    // release it and an idle stream stays collectable (its finalizer is the safety net).
    if (this.hostRefs.length === 0) this.device.hostRefHolders.add(this);
    this.hostRefs.push(value);
  }

  /** Blocks until all work queued on this stream is done, then drops the host buffers it kept. */
  synchronize(): void {
    this.device.activate();
    checkCuda("cuStreamSynchronize", driver().cuStreamSynchronize(this.handle));
    this.releaseHostRefs();
  }

  /** True while `CudaGraph.capture` records this stream: launches then report what they use. */
  get capturing(): boolean {
    return this.captureUses !== undefined;
  }

  /** Starts collecting the uses of work queued on this stream (CudaGraph.capture). */
  beginCaptureRecord(): void {
    this.captureUses = [];
    this.captureScratch = new Map();
  }

  /** Stops collecting and returns what the captured work uses and the scratch made for it. */
  endCaptureRecord(): CaptureRecord {
    const record = { uses: this.captureUses ?? [], scratch: [...(this.captureScratch?.values() ?? [])] };
    this.captureUses = undefined;
    this.captureScratch = undefined;
    return record;
  }

  /**
   * While capturing: the scratch buffer made for `owner` in this capture (one per owner, so that
   * launches of one plan within one graph share it), or, the first time, the one `make` returns.
   * The graph being made owns it.
   * @throws Error outside a capture (callers ask only while `capturing`).
   */
  scratchForCapture(owner: object, make: () => DeviceBuffer): DeviceBuffer {
    const scratch = this.captureScratch;
    if (scratch === undefined) throw new Error("scratchForCapture outside a capture");
    let buffer = scratch.get(owner);
    if (buffer === undefined) {
      buffer = make();
      scratch.set(owner, buffer);
    }
    return buffer;
  }

  /**
   * Records, while capturing, that the work just queued (`what`) uses `resources`. A tensor stands
   * for its buffer: disposing a view frees nothing, so only the buffer's end stops a replay.
   */
  noteCaptured(what: string, resources: readonly (CapturedResource | Tensor | undefined)[]): void {
    if (this.captureUses === undefined) return;
    const kept: CapturedResource[] = [];
    for (const r of resources) {
      if (r === undefined) continue;
      kept.push(r instanceof Tensor ? r.buffer : r);
    }
    this.captureUses.push({ what, resources: kept });
  }

  releaseHostRefs(): void {
    if (this.hostRefs.length === 0) return;
    this.hostRefs = [];
    this.device.hostRefHolders.delete(this);
  }

  /** Waits for queued work (its host buffers must outlive it), then destroys the stream. Idempotent. */
  override dispose(): void {
    if (this.disposed || this.handle === 0n) return;
    this.synchronize();
    super.dispose();
  }
}

/** The legacy default stream of `device` (handle 0n). */
export function defaultStream(device: Device): Stream {
  return Stream.default(device);
}

/**
 * @throws InvalidArgumentError unless `stream` is undefined (the legacy default stream) or a Stream
 *   (of `device`, when given: a launch on another device's stream would run in the wrong context).
 */
export function checkStream(name: string, stream: unknown, device: Device | undefined): void {
  if (stream === undefined) return;
  if (!(stream instanceof Stream)) throw new InvalidArgumentError(name, "must be a Stream (Stream.create or defaultStream)", stream);
  if (device !== undefined && stream.device !== device) throw new InvalidArgumentError(`${name}.device`, `must be device ${device.ordinal}`, stream.device.ordinal);
}
