/**
 * CUDA graphs made by stream capture: record the work `fn` queues on a stream once, replay it
 * with one launch. Replays read device memory as it is at replay time, so a caller changes what a
 * replay computes by writing into the captured buffers (e.g. new per-group row counts in maskedM),
 * never by calling `fn` again. Kernel parameters are copied into the graph at capture.
 */
import { checkCuda } from "../ffi/cuda.ts";
import { graphDriver, StreamCaptureMode } from "../ffi/cudaGraph.ts";
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import type { Device } from "./device.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";
import { DeviceBuffer, memsetD8 } from "./memory.ts";
import { checkStream, type CapturedResource, type CaptureRecord, type Stream } from "./stream.ts";

const GRAPH_EXEC_DESTROY: Destroyer = { call: "cuGraphExecDestroy", destroy: (h) => graphDriver().cuGraphExecDestroy(h) };

export type CaptureMode = "global" | "threadLocal" | "relaxed";
const MODES: Record<CaptureMode, number> = {
  global: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL,
  threadLocal: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
  relaxed: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED,
};

/**
 * Allocates `bytes` on `device` for work being captured (a plan's split workspace for one graph).
 * cuMemAlloc is no part of any graph, and a capture in the default global mode refuses it as
 * potentially unsafe, so this thread's capture mode is relaxed for the one call. Uninitialised:
 * CudaGraph.capture zeroes its scratch once the capture has ended, before any replay.
 */
export function allocateDuringCapture(device: Device, bytes: number): DeviceBuffer {
  const g = graphDriver();
  const mode = new Uint32Array([StreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED]);
  checkCuda("cuThreadExchangeStreamCaptureMode", g.cuThreadExchangeStreamCaptureMode(mode));
  try {
    return DeviceBuffer.alloc(device, bytes);
  } finally {
    // Back to the thread's previous mode, which the first exchange left in `mode`.
    checkCuda("cuThreadExchangeStreamCaptureMode", g.cuThreadExchangeStreamCaptureMode(mode));
  }
}

/**
 * An instantiated graph (CUgraphExec). Dispose it (or `using`) when done. It keeps the tensors,
 * kernels and host views its captured work uses referenced for its life, and refuses to replay once
 * any of them was disposed. Plans that need a workspace get one of their own for each graph (its
 * scratch, zeroed at capture and freed with it), so replays never share one with the plan's own
 * launches or with another graph's replays. (A graph replayed inside another capture is the
 * exception: the outer graph runs the inner one's work with the inner one's scratch, so the two
 * must not be replayed at the same time on different streams.)
 */
export class CudaGraph extends DriverHandle {
  /** Each resource once, with the first captured work that used it (named in the refusal). */
  private readonly uses: ReadonlyMap<CapturedResource, string>;
  private readonly scratch: readonly DeviceBuffer[];

  private constructor(stream: Stream, exec: bigint, record: CaptureRecord) {
    super(stream.device, exec, "CudaGraph", GRAPH_EXEC_DESTROY);
    const uses = new Map<CapturedResource, string>();
    for (const use of record.uses) for (const r of use.resources) if (!uses.has(r)) uses.set(r, use.what);
    this.uses = uses;
    this.scratch = record.scratch;
  }

  /**
   * Captures the work `fn` queues on `stream` (which must not be the legacy default stream) and
   * instantiates it. Nothing runs during capture. `fn` must not synchronise or read device data
   * (in "global" mode, the default, the driver refuses such calls with an error).
   * @throws InvalidArgumentError for the default stream; whatever `fn` throws (the capture is
   *   ended and dropped first); CudaError from the driver.
   */
  static capture(stream: Stream, fn: () => void, options: { mode?: CaptureMode } = {}): CudaGraph {
    checkStream("stream", stream, undefined);
    if (stream.capturing) throw new InvalidArgumentError("stream", "is already being captured (captures do not nest)", stream.handle);
    if (stream.handle === 0n) throw new InvalidArgumentError("stream", "a graph is captured on a created stream, not the legacy default stream", 0n);
    const g = graphDriver();
    stream.device.activate();
    checkCuda("cuStreamBeginCapture_v2", g.cuStreamBeginCapture_v2(stream.handle, MODES[options.mode ?? "global"]));
    const graphOut = new BigUint64Array(1);
    stream.beginCaptureRecord();
    try {
      fn();
    } catch (error) {
      const { scratch } = stream.endCaptureRecord();
      // End the capture so the stream is usable again; the partial graph is dropped. The end
      // call's own result is secondary to the error being reported.
      if (g.cuStreamEndCapture(stream.handle, graphOut) === 0 && graphOut[0]) g.cuGraphDestroy(graphOut[0]);
      // Only now: a global capture refuses cuMemFree. Nothing ran, so nothing uses them.
      for (const buffer of scratch) buffer.dispose();
      throw error;
    }
    const record = stream.endCaptureRecord();
    let made: CudaGraph | undefined;
    try {
      checkCuda("cuStreamEndCapture", g.cuStreamEndCapture(stream.handle, graphOut));
      const graph = graphOut[0] ?? 0n;
      try {
        const execOut = new BigUint64Array(1);
        checkCuda("cuGraphInstantiateWithFlags", g.cuGraphInstantiateWithFlags(execOut, graph, 0n));
        made = new CudaGraph(stream, execOut[0] ?? 0n, record);
      } finally {
        // The executable graph does not depend on the template once instantiated.
        checkCuda("cuGraphDestroy", g.cuGraphDestroy(graph));
      }
      // Zeroed now that the capture is over, and finished before any replay can start (on whatever
      // stream): split workspaces count their tiles' parts from zero and leave their counters at
      // zero after each launch. (A plain memset would run on the legacy stream, which a
      // non-blocking stream's replay does not wait for.)
      if (record.scratch.length > 0) {
        for (const buffer of record.scratch) memsetD8(buffer, 0, stream);
        stream.synchronize();
      }
      return made;
    } catch (error) {
      if (made !== undefined) made.dispose();
      else for (const buffer of record.scratch) buffer.dispose();
      throw error;
    }
  }

  /**
   * Frees the executable graph and the scratch made for it. Idempotent. A graph with scratch first
   * waits for the device to be idle: cuMemFree does not wait for a replay still running, and the
   * caller cannot see the scratch to wait for it.
   */
  override dispose(): void {
    if (this.disposed) return;
    try {
      if (this.scratch.length > 0) this.device.synchronize();
      super.dispose();
    } finally {
      for (const buffer of this.scratch) buffer.dispose();
    }
  }

  /** The CUgraphExec. @throws DisposedError after dispose(). */
  get handle(): bigint {
    return this.liveHandle;
  }

  /**
   * Queues one replay on `stream`.
   * @throws DisposedError when the graph, or anything its captured work uses, was disposed.
   */
  launch(stream: Stream): void {
    checkStream("stream", stream, this.device);
    const handle = this.handle;
    for (const [r, what] of this.uses) {
      if ("disposed" in r && r.disposed) throw new DisposedError(`CudaGraph replay: memory or code that ${what} uses`);
    }
    checkCuda("cuGraphLaunch", graphDriver().cuGraphLaunch(handle, stream.handle));
    // Replayed into another capture: that graph must keep this one and all it uses too.
    if (stream.capturing) stream.noteCaptured("a replayed CudaGraph", [this, ...this.uses.keys()]);
  }
}
