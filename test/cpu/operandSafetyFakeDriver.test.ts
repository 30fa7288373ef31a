/**
 * Operands that pass the shape rules yet would have led a kernel to the wrong memory (found by an
 * audit of the public API), checked against the fake libcuda: extent-1 strides never reach a tensor
 * map, outputs may not share memory with inputs, streams and tensors are what they claim to be, and
 * a CUDA graph keeps what its captured work uses and refuses to replay once any of it is disposed.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { cCompiler, runAgainstFakeDriver } from "../support/fakeDriver.ts";

const skip = cCompiler === undefined;
if (skip) console.warn("skipping operand-safety fake-driver tests: needs a C compiler");

type Refusal = { error: string; launched: number };

describe.skipIf(skip)("operand safety against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    r = runAgainstFakeDriver("operandSafetyFakeRun.ts");
  }, 120_000);

  test("a one-row-per-group masked A is mapped with rows K apart, whatever its extent-1 stride holds", () => {
    expect(r.maskedMaps).toBe(4);
    expect(r.maskedWarmEncodes).toBe(0);
    expect(r.maskedAMap).toEqual({ dims: [128, 2], rowStride: 128 });
    expect(r.contiguousEncodes).toBe(3); // A, B, A scales: N = 1 stores without TMA
    expect(r.contiguousBMap).toEqual({ dims: [128, 2], rowStride: 128 });
  });

  test("dense M = 1 ignores the row stride of its single row, and later calls still work", () => {
    expect(r.denseHugeStride).toBe("no error");
    expect(r.denseHugeStrideMap).toEqual({ dims: [128, 1], rowStride: 128 });
    expect(r.denseAfter).toBe("no error");
  });

  test("outputs sharing memory with an input are refused by name before launch; D as C itself runs", () => {
    const refused = (x: unknown, output: string, input: string) => {
      const { error, launched } = x as Refusal;
      expect(error).toStartWith("InvalidArgumentError");
      expect(error).toContain(`${output}: must not share memory with ${input}`);
      expect(launched).toBe(0);
    };
    refused(r.dShiftedOverC, "d", "c");
    refused(r.dOverSfb, "d", "sfb");
    refused(r.quantScalesOverX, "out.scales", "x");
    refused(r.dequantOutOverScales, "out", "scales");
    expect(r.dIsC).toEqual({ error: "no error", launched: 1 });
  });

  test("a stream or tensor that is not one is refused before launch", () => {
    const notStream = r.notAStream as Refusal;
    expect(notStream.error).toContain("stream: must be a Stream");
    expect(notStream.launched).toBe(0);
    const notTensor = r.notATensor as Refusal;
    expect(notTensor.error).toContain("a: must be a Tensor");
    expect(notTensor.launched).toBe(0);
    const quantNotTensor = r.quantNotATensor as Refusal;
    expect(quantNotTensor.error).toContain("must be a Tensor");
    expect(quantNotTensor.launched).toBe(0);
  });

  test("a graph keeps its tensors and workspace through GC and refuses to replay after one is disposed", () => {
    const g = r.graph as Record<string, unknown>;
    expect(g.split).toBe(true); // the masked plan owns a workspace, and the graph gets its own
    expect(g.captured).toBe(8); // six operands, the plan's workspace and the graph's
    expect(g.operandsAlive).toBe(g.operands); // none collected: the graph holds them
    expect(g.operands).toBe(6);
    expect(g.liveAfterGc).toBe(7); // the plan's workspace went with the plan; the graph's stays
    expect(g.replay).toBe("no error");
    expect(g.afterDispose).toStartWith("DisposedError");
    expect(g.afterDispose).toContain("bungemm_");
    expect(g.replays).toBe(1);
    expect(g.viewReplay).toBe("no error"); // a disposed view freed nothing
    expect(g.outerReplay).toBe("no error");
    expect(g.outerAfterOwnerDispose).toStartWith("DisposedError"); // the nested graph's memory counts
    expect(g.notAStream).toContain("stream: must be a Stream");
  });

  test("a graph's captured launches get a split workspace of the graph's own, zeroed and freed with it", () => {
    const w = r.graphWorkspace as Record<string, unknown>;
    expect(w.distinctFromPlan).toBe(true); // replays never share partial sums with the plan's launches
    expect(w.sharedWithinGraph).toBe(true);
    expect(w.distinctBetweenGraphs).toBe(true);
    expect(w.ownRestored).toBe(true); // the plan's next launch outside a capture uses its own again
    expect(w.madeByCapture).toBe(1);
    expect(w.modeAfterCapture).toBe(0); // back to global
    expect(w.zeroed).toBe(true); // the fake's fresh memory is 0xAB: zeroed after the capture ended
    expect(w.failed).toContain("fn failed"); // not the driver refusing a free inside the capture
    expect(w.liveAfterFailed).toBe(0);
    expect(w.liveAfterFirstDisposed).toBe(-1);
    expect(w.secondAfterPlanDisposed).toBe("no error"); // the plan's dispose frees only its own
  });

  test("a bigint byte offset gets the rule, not a bare TypeError", () => {
    expect(r.bigintOffset).toStartWith("InvalidArgumentError");
    expect(r.bigintOffset).toContain("byteOffset");
  });
});
