/**
 * Shape rules of the M-grouped GEMMs (src/gemm/groupedShapes.ts) and the debug checks of the
 * device-side grouping data as pure functions on host arrays (src/gemm/groupedChecks.ts).
 * Nothing here needs a GPU: operands are described by dtype and shape only.
 */
import { describe, expect, test } from "bun:test";
import { DeviceDataError, InvalidArgumentError } from "../../src/errors.ts";
import { contiguousProblem, maskedProblem, planMGroupedFp8GemmNtContiguous, planMGroupedFp8GemmNtMasked } from "../../src/gemm/grouped.ts";
import { checkMaskedM, checkMIndices, debugChecksDefault } from "../../src/gemm/groupedChecks.ts";
import { contiguousShapeOf, maskedShapeOf, parseContiguousShape, parseMaskedShape, type ShapedOperand } from "../../src/gemm/groupedShapes.ts";
import type { Device } from "../../src/runtime/device.ts";
import type { DType } from "../../src/tensor/dtype.ts";

const t = (dtype: DType, ...shape: number[]): ShapedOperand => ({ dtype, shape });

/** Thrown error, for asserting its structured fields. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

// G = 4, M_total = 256, N = 320, K = 7168 (56 k-blocks, 3 B-scale rows).
const contiguous = () => ({
  a: t("e4m3", 256, 7168),
  sfa: t("f32", 56, 256),
  b: t("e4m3", 4, 320, 7168),
  sfb: t("f32", 4, 3, 56),
  d: t("bf16", 256, 320),
  mIndices: t("i32", 256),
});

// G = 2, M_max = 6 (scales padded to 8), N = 128, K = 2048.
const masked = () => ({
  a: t("e4m3", 2, 6, 2048),
  sfa: t("f32", 2, 16, 8),
  b: t("e4m3", 2, 128, 2048),
  sfb: t("f32", 2, 1, 16),
  d: t("bf16", 2, 6, 128),
  maskedM: t("i32", 2),
});

describe("contiguous shapes", () => {
  test("the operands' shapes give the problem", () => {
    const s = contiguousShapeOf(contiguous());
    expect(s).toEqual({ mTotal: 256, n: 320, k: 7168, numGroups: 4 });
    expect(contiguousProblem(s)).toEqual({ gemmType: "contiguous", m: 256, n: 320, k: 7168, numGroups: 4, outDtype: "bf16", accumulate: false });
  });

  test("mTotal must be a multiple of 128, K of 16 (the rule and the value are named)", () => {
    const e = thrown(() => parseContiguousShape({ mTotal: 200, n: 128, k: 256, numGroups: 2 }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).argument).toBe("shape.mTotal");
    expect((e as InvalidArgumentError).value).toBe(200);
    expect((e as InvalidArgumentError).rule).toMatch(/multiple of M_ALIGNMENT = 128/);
    const k = thrown(() => parseContiguousShape({ mTotal: 128, n: 128, k: 200, numGroups: 2 })) as InvalidArgumentError;
    expect(k.argument).toBe("shape.k");
    expect(k.rule).toMatch(/multiple of 16/);
    expect(() => parseContiguousShape({ mTotal: 128, n: 128, k: 256, numGroups: 0 })).toThrow(/shape.numGroups/);
    expect(() => parseContiguousShape({ mTotal: 128, n: 128, k: 256, numGroups: 2, extra: 1 })).toThrow(InvalidArgumentError);
    // M_total = 0 is allowed: nothing is launched.
    expect(parseContiguousShape({ mTotal: 0, n: 128, k: 256, numGroups: 2 }).mTotal).toBe(0);
  });

  test("the plan form validates before it touches the device", () => {
    const noDevice = {} as Device;
    expect(() => planMGroupedFp8GemmNtContiguous(noDevice, { mTotal: 100, n: 128, k: 256, numGroups: 2 })).toThrow(/mTotal/);
    expect(() => planMGroupedFp8GemmNtContiguous(noDevice, { mTotal: 128, n: 128, k: 256, numGroups: 2 }, { debugChecks: "yes" } as never)).toThrow(/options.debugChecks/);
    expect(() => planMGroupedFp8GemmNtMasked(noDevice, { mMax: 64, n: 128, k: 100, numGroups: 2 })).toThrow(/shape.k/);
  });

  test("wrong operand shapes and dtypes name the operand", () => {
    const cases: [Partial<ReturnType<typeof contiguous>>, RegExp][] = [
      [{ a: t("bf16", 256, 7168) }, /a.dtype: must be e4m3/],
      [{ a: t("e4m3", 256, 7168, 1) }, /a.shape: must be \[M_total, K\]/],
      [{ a: t("e4m3", 200, 7168), sfa: t("f32", 56, 200), d: t("bf16", 200, 320), mIndices: t("i32", 200) }, /shape.mTotal/],
      [{ b: t("e4m3", 4, 320, 4096) }, /b.shape: must be \[G, N, 7168\]/],
      [{ b: t("e4m3", 320, 7168) }, /b.shape: must be \[G, N, K\]/],
      [{ sfb: t("f32", 4, 2, 56) }, /sfb.shape: .*\[4, 3, 56\]/],
      [{ sfa: t("f32", 256, 56) }, /sfa.shape: .*\[56, 256\]/],
      [{ d: t("f32", 256, 320) }, /d.dtype: must be bf16/],
      [{ d: t("bf16", 256, 321) }, /d.shape/],
      [{ mIndices: t("f32", 256) }, /mIndices.dtype: must be i32/],
      [{ mIndices: t("i32", 255) }, /mIndices.shape: .*\[256\]/],
      [{ mIndices: t("i32", 2, 128) }, /mIndices.shape: must be \[M_total\]/],
    ];
    for (const [change, message] of cases) {
      expect(() => contiguousShapeOf({ ...contiguous(), ...change })).toThrow(message);
      expect(() => contiguousShapeOf({ ...contiguous(), ...change })).toThrow(InvalidArgumentError);
    }
  });

  test("K not a multiple of 16 is refused with the rule", () => {
    const ops = { ...contiguous(), a: t("e4m3", 256, 7160), b: t("e4m3", 4, 320, 7160) };
    expect(() => contiguousShapeOf(ops)).toThrow(/k must be a multiple of 16/);
  });
});

describe("masked shapes", () => {
  test("the operands' shapes give the problem; expectedM is the caller's hint", () => {
    expect(maskedShapeOf(masked())).toEqual({ mMax: 6, n: 128, k: 2048, numGroups: 2 });
    const s = maskedShapeOf(masked(), 3);
    expect(maskedProblem(s)).toEqual({ gemmType: "masked", m: 6, n: 128, k: 2048, numGroups: 2, outDtype: "bf16", accumulate: false, expectedM: 3 });
    expect(maskedProblem(maskedShapeOf(masked())).expectedM).toBe(6);
    expect(() => maskedShapeOf(masked(), 0)).toThrow(/shape.expectedM/);
    expect(() => parseMaskedShape({ mMax: 1, n: 1, k: 16, numGroups: 1, expectedM: 2.5 })).toThrow(InvalidArgumentError);
  });

  test("wrong operand shapes and dtypes name the operand", () => {
    const cases: [Partial<ReturnType<typeof masked>>, RegExp][] = [
      [{ a: t("e4m3", 6, 2048) }, /a.shape: must be \[G, M_max, K\]/],
      [{ a: t("e4m3", 3, 6, 2048) }, /a.shape: must be \[2, M_max, K\] \(G of b\)/],
      [{ sfa: t("f32", 2, 16, 6) }, /sfa.shape: .*\[2, 16, 8\]/],
      [{ d: t("bf16", 2, 6, 64) }, /d.shape/],
      [{ maskedM: t("i32", 3) }, /maskedM.shape: .*\[2\]/],
      [{ maskedM: t("bf16", 2) }, /maskedM.dtype: must be i32/],
      [{ sfb: t("f32", 2, 16) }, /sfb.shape/],
    ];
    for (const [change, message] of cases) expect(() => maskedShapeOf({ ...masked(), ...change })).toThrow(message);
  });
});

describe("debug checks on host copies of the grouping data", () => {
  const layout = (...blocks: number[][]): Int32Array => Int32Array.from(blocks.flat());
  const block = (real: number, g: number): number[] => Array.from({ length: 128 }, (_, i) => (i < real ? g : -1));

  test("a well-formed layout passes (empty, partial, full and all-padding blocks)", () => {
    expect(() => checkMIndices(layout(block(1, 0), block(128, 1), block(0, 0), block(127, 3)), 4)).not.toThrow();
    expect(() => checkMIndices(new Int32Array(0), 1)).not.toThrow();
  });

  test("a group id outside [-1, G) is refused with its row", () => {
    const bad = layout(block(5, 0), block(3, 2));
    bad[129] = 4;
    const e = thrown(() => checkMIndices(bad, 4)) as DeviceDataError;
    expect(e).toBeInstanceOf(DeviceDataError);
    expect(e.argument).toBe("mIndices");
    expect(e.index).toBe(129);
    expect(e.value).toBe(4);
    bad[129] = -2;
    expect(() => checkMIndices(bad, 4)).toThrow(/\[0, 4\)/);
  });

  test("a real row after padding inside a 128-row block is refused", () => {
    const bad = layout(block(5, 1));
    bad[100] = 1;
    const e = thrown(() => checkMIndices(bad, 2)) as DeviceDataError;
    expect(e.index).toBe(100);
    expect(e.rule).toMatch(/may not follow a padding row/);
    // Padding then real rows across a block boundary is a new segment: fine.
    expect(() => checkMIndices(layout(block(5, 0), block(5, 1)), 2)).not.toThrow();
  });

  test("two groups inside one 128-row block are refused", () => {
    const bad = layout(block(128, 0));
    bad.fill(1, 64);
    const e = thrown(() => checkMIndices(bad, 2)) as DeviceDataError;
    expect(e.index).toBe(64);
    expect(e.rule).toMatch(/must all belong to group 0/);
  });

  test("maskedM[g] must lie in [0, M_max]", () => {
    expect(() => checkMaskedM(Int32Array.from([0, 6, 3]), 6)).not.toThrow();
    const over = thrown(() => checkMaskedM(Int32Array.from([0, 7]), 6)) as DeviceDataError;
    expect(over).toBeInstanceOf(DeviceDataError);
    expect([over.argument, over.index, over.value]).toEqual(["maskedM", 1, 7]);
    expect(() => checkMaskedM(Int32Array.from([-1]), 6)).toThrow(/\[0, M_max = 6\]/);
  });

  test("the option wins over BUNGEMM_DEBUG_CHECKS, which is the default", () => {
    const saved = process.env.BUNGEMM_DEBUG_CHECKS;
    try {
      process.env.BUNGEMM_DEBUG_CHECKS = "1";
      expect(debugChecksDefault(undefined)).toBe(true);
      expect(debugChecksDefault(false)).toBe(false);
      delete process.env.BUNGEMM_DEBUG_CHECKS;
      expect(debugChecksDefault(undefined)).toBe(false);
      expect(debugChecksDefault(true)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.BUNGEMM_DEBUG_CHECKS;
      else process.env.BUNGEMM_DEBUG_CHECKS = saved;
    }
  });
});
