/**
 * The benchmark's clock against a fake libcuda (fixtures/fakeCuda.c, events of 1.5 ms): calls timed
 * in alternation run round by round in the order given, warm-up rounds included, and each gets its
 * own timing back in that order; a probe's after-flush hook runs before each call; the clock floor
 * is one empty CTA timed the same way.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { cCompiler, runAgainstFakeDriver } from "../support/fakeDriver.ts";
import { nvccPath } from "../support/compilers.ts";

const skip = cCompiler === undefined || nvccPath() === undefined;
if (skip) console.warn("skipping the benchmark clock's fake-driver tests: needs a C compiler (the fake libcuda) and nvcc (the empty kernel)");

describe.skipIf(skip)("KernelTimer against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    r = runAgainstFakeDriver("timerFakeRun.ts");
  }, 60_000);

  test("timeInterleaved: 2 warm-up and 3 timed rounds, each calling a, b, c in that order", () => {
    expect(r.interleavedCalls).toEqual(Array.from({ length: 5 }, () => ["a", "b", "c"]).flat());
  });

  test("timeInterleaved: one timing per call, in the order given, from the events (1.5 ms)", () => {
    expect(r.interleaved).toEqual([0, 1, 2].map(() => ({ medianUs: 1500, minUs: 1500, runs: 3 })));
  });

  test("time: warm-up then timed calls of one function; a run count below 1 is refused", () => {
    expect(r.singleCalls).toEqual(["s", "s", "s"]);
    expect(r.single).toEqual({ medianUs: 1500, minUs: 1500, runs: 2 });
    expect(r.refused).toBe("RangeError: runs must be a positive integer (got 0)");
  });

  test("afterFlush: the hook runs between the flush and every call, warm-up included", () => {
    expect(r.hookedCalls).toEqual(["after-flush", "h", "after-flush", "h", "after-flush", "h"]);
  });

  test("the clock floor: one empty 32-thread CTA, timed by the same clock", () => {
    expect(r.floorUs).toBe(1500);
    expect(r.floorLaunch).toEqual({ grid: [1, 1, 1], block: [32, 1, 1] });
  });
});
