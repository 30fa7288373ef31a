/**
 * What a dense plan hands the driver, checked against a fake libcuda (fixtures/fakeCuda.c): the
 * expect-tx byte count matches the (shrunk) boxes it encodes — a mismatch would hang the kernel — and
 * a warm call with the same buffers re-encodes no tensor map, while a strided view re-encodes only
 * its own map with its row stride; maxSms caps the grid it launches.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { cCompiler, runAgainstFakeDriver } from "../support/fakeDriver.ts";
import { nvccPath } from "../support/compilers.ts";

const nvcc = nvccPath();
const skip = cCompiler === undefined || nvcc === undefined;
if (skip) console.warn("skipping GEMM plan fake-driver tests: needs a C compiler and nvcc");

describe.skipIf(skip)("GemmPlan against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    r = runAgainstFakeDriver("gemmPlanFakeRun.ts");
  }, 120_000);

  test("the expect-tx count is the bytes of the boxes: 8 A rows, the B tile, 4 A scales", () => {
    expect(r.stageTxBytes).toBe(8 * 128 + 64 * 128 + 4 * 4);
    expect(r.planStageTxBytes).toBe(r.stageTxBytes);
  });

  test("the first call encodes the four maps; a warm call with the same buffers encodes none", () => {
    expect(r.firstEncodes).toBe(4);
    expect(r.warmEncodes).toBe(0);
  });

  test("maxSms caps the persistent grid (whole clusters), for dense and masked plans; the default is every SM", () => {
    expect(r.maxSmsGrid).toEqual({ plan: 7, launched: 7 });
    expect(r.maxSmsClusterGrid).toBe(6);
    expect(r.defaultGrid).toBe(132);
    expect(r.maskedMaxSmsGrid).toBe(5);
  });

  test("maxSms outside 1..the SM count, or below a cluster's size, is refused naming the option", () => {
    expect(r.maxSmsRefusals).toEqual(["options.maxSms", "options.maxSms", "options.maxSms", "config"]);
  });

  test("options and shape fields given as undefined are as if not given (dense and masked plans)", () => {
    expect(r.undefinedOptions).toEqual({ dense: [true, true, true], masked: [true, true] });
  });

  test("a strided view of A re-encodes only A's map, with the view's address and row stride", () => {
    expect(r.viewEncodes).toBe(1);
    expect(r.viewMap).toEqual({ address: true, stride: 256 + 64, boxRows: 16 });
  });
});
