/** Plan construction and the validation rules of the GPU quantization API (no device needed). */
import { describe, expect, test } from "bun:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { planDequantizePerBlock, planDequantizePerToken } from "../../src/quant/dequantize.ts";
import { contiguousScaleLayout, tmaAlignedScaleLayout } from "../../src/quant/layout.ts";
import { DequantizeOptionsSchema, parseOptions, QuantizeOptionsSchema } from "../../src/quant/options.ts";
import { planQuantizePerBlock, planQuantizePerToken } from "../../src/quant/quantize.ts";

function thrown(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error("expected an InvalidArgumentError");
}

describe("quantization plans", () => {
  test("per token: scales are the TMA-aligned storage [kBlocks, alignedM(M)], padding included", () => {
    const plan = planQuantizePerToken([4097, 7168], "bf16");
    expect(plan.shape).toEqual([4097, 7168]);
    expect(plan.scaleLayout).toEqual({ shape: [56, 4100], strides: [4100, 1], allocElements: 56 * 4100 });
    const batched = planQuantizePerToken([3, 5, 272], "f32");
    expect(batched.scaleLayout).toEqual({ shape: [3, 3, 8], strides: [24, 8, 1], allocElements: 3 * 3 * 8 });
  });

  test("per block: contiguous [ceil(N/128), ceil(K/128)] (batched [G, …])", () => {
    expect(planQuantizePerBlock([7168, 2048], "bf16").scaleLayout).toEqual(contiguousScaleLayout(56, 16, 1, false));
    expect(planQuantizePerBlock([2, 130, 256], "f32").scaleLayout).toEqual({ shape: [2, 2, 2], strides: [4, 2, 1], allocElements: 8 });
    expect(planDequantizePerToken([3, 5, 272]).scaleLayout).toEqual(tmaAlignedScaleLayout(5, 3, 3, true));
    expect(planDequantizePerBlock([130, 256], "f32").outDtype).toBe("f32");
  });

  test("rules name the argument, the rule and the value", () => {
    const k = thrown(() => planQuantizePerToken([4, 100], "bf16"));
    expect(k.argument).toBe("planQuantizePerToken: shape");
    expect(k.rule).toMatch(/multiple of 16/);
    expect(k.value).toBe(100);
    expect(thrown(() => planQuantizePerBlock([4], "f32")).rule).toMatch(/rank 2/);
    expect(thrown(() => planQuantizePerBlock([0, 128], "f32")).rule).toMatch(/positive integer/);
    expect(thrown(() => planQuantizePerToken([4, 128], "e4m3")).argument).toBe("planQuantizePerToken: dtype");
    expect(thrown(() => planQuantizePerToken([1 << 16, 1 << 16], "bf16")).rule).toMatch(/2\^32/);
    expect(thrown(() => planDequantizePerToken([4, 128], "f16" as "f32")).argument).toBe("planDequantizePerToken: outDtype");
  });

  test("options are parsed with zod into InvalidArgumentError", () => {
    expect(parseOptions("f", QuantizeOptionsSchema, undefined)).toEqual({});
    expect(parseOptions("f", DequantizeOptionsSchema, { outDtype: "f32" })).toEqual({ outDtype: "f32" });
    const bad = thrown(() => parseOptions("dequantizePerToken", DequantizeOptionsSchema, { outDtype: "f16" }));
    expect(bad.argument).toBe("dequantizePerToken: options.outDtype");
    expect(bad.value).toBe("f16");
    const stream = thrown(() => parseOptions("quantizePerToken", QuantizeOptionsSchema, { stream: 0n }));
    expect(stream.argument).toBe("quantizePerToken: options.stream");
    const extra = thrown(() => parseOptions("quantizePerToken", QuantizeOptionsSchema, { strem: 1 }));
    expect(extra.value).toEqual(["strem"]);
  });
});
