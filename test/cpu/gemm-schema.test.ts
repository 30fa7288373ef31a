/**
 * The dense entry point refuses bad shapes and options before it touches a device (these run with
 * no GPU: the device argument is never reached), each with the rule and the value in the error.
 */
import { describe, expect, test } from "bun:test";
import { planFp8GemmNt } from "../../src/gemm/dense.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import type { Device } from "../../src/runtime/device.ts";

const noDevice = new Proxy({}, { get: () => { throw new Error("the device was used before validation"); } }) as Device;

function refusal(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error("expected a refusal");
}

describe("planFp8GemmNt validation (no device needed)", () => {
  test("K must be a multiple of 16", () => {
    const e = refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 100 }));
    expect(e.argument).toBe("shape.k");
    expect(e.value).toBe(100);
    expect(e.message).toContain("multiple of 16");
  });
  test("N must be at least 1, M not negative, all integers", () => {
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 0, k: 256 })).argument).toBe("shape.n");
    expect(refusal(() => planFp8GemmNt(noDevice, { m: -1, n: 256, k: 256 })).argument).toBe("shape.m");
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 1.5, n: 256, k: 256 })).argument).toBe("shape.m");
  });
  test("K above the supported maximum", () => {
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 1, n: 256, k: 1 << 20 })).argument).toBe("shape.k");
  });
  test("accumulation needs FP32 output", () => {
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 256, accumulate: true })).message).toMatch(/accumulate.*f32/);
  });
  test("unknown option keys and configuration values the kernel does not have", () => {
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 256 }, { stages: 4 } as never)).argument).toBe("options");
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 256 }, { config: { blockN: 200 } })).message).toContain("blockN must be one of");
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 256 }, { config: { blockM: 96 as never } })).argument).toBe("options.config.blockM");
  });
  test("an output dtype the kernel does not write", () => {
    expect(refusal(() => planFp8GemmNt(noDevice, { m: 64, n: 256, k: 256, outDtype: "f16" as never })).argument).toBe("shape.outDtype");
  });
});
