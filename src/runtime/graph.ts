/**
 * CUDA graphs made by stream capture: record the work `fn` queues on a stream once, replay it
 * with one launch. Replays read device memory as it is at replay time, so a caller changes what a
 * replay computes by writing into the captured buffers (e.g. new per-group row counts in maskedM),
 * never by calling `fn` again. Kernel parameters are copied into the graph at capture.
 */
import { checkCuda } from "../ffi/cuda.ts";
import { graphDriver, StreamCaptureMode } from "../ffi/cudaGraph.ts";
import { DisposedError, InvalidArgumentError } from "../errors.ts";
import { DriverHandle, type Destroyer } from "./driverHandle.ts";
import { checkStream, type CapturedResource, type CapturedUse, type Stream } from "./stream.ts";

const GRAPH_EXEC_DESTROY: Destroyer = { call: "cuGraphExecDestroy", destroy: (h) => graphDriver().cuGraphExecDestroy(h) };

export type CaptureMode = "global" | "threadLocal" | "relaxed";
const MODES: Record<CaptureMode, number> = {
  global: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL,
  threadLocal: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
  relaxed: StreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED,
};

/**
 * An instantiated graph (CUgraphExec). Dispose it (or `using`) when done. It keeps the tensors,
 * plans' workspaces, kernels and host views its captured work uses referenced for its life, and
 * refuses to replay once any of them was disposed.
 */
export class CudaGraph extends DriverHandle {
  /** Each resource once, with the first captured work that used it (named in the refusal). */
  private readonly uses: ReadonlyMap<CapturedResource, string>;

  private constructor(stream: Stream, exec: bigint, captured: readonly CapturedUse[]) {
    super(stream.device, exec, "CudaGraph", GRAPH_EXEC_DESTROY);
    const uses = new Map<CapturedResource, string>();
    for (const use of captured) for (const r of use.resources) if (!uses.has(r)) uses.set(r, use.what);
    this.uses = uses;
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
      stream.endCaptureRecord();
      // End the capture so the stream is usable again; the partial graph is dropped. The end
      // call's own result is secondary to the error being reported.
      if (g.cuStreamEndCapture(stream.handle, graphOut) === 0 && graphOut[0]) g.cuGraphDestroy(graphOut[0]);
      throw error;
    }
    const uses = stream.endCaptureRecord();
    checkCuda("cuStreamEndCapture", g.cuStreamEndCapture(stream.handle, graphOut));
    const graph = graphOut[0] ?? 0n;
    try {
      const execOut = new BigUint64Array(1);
      checkCuda("cuGraphInstantiateWithFlags", g.cuGraphInstantiateWithFlags(execOut, graph, 0n));
      return new CudaGraph(stream, execOut[0] ?? 0n, uses);
    } finally {
      // The executable graph does not depend on the template once instantiated.
      checkCuda("cuGraphDestroy", g.cuGraphDestroy(graph));
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
