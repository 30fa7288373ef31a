/**
 * GPU quantization kernels against the CPU reference, bit for bit: codes, scales (padding rows
 * included), scale transforms and dequantization, on random data and on every special value of the
 * policy (docs/quantization.md). Outputs are poisoned before each launch, so an element the kernel
 * forgot to write shows as a mismatch. Skips, saying why, where there is no CUDA device.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { Device } from "../../src/runtime/device.ts";
import { memsetD8 } from "../../src/runtime/memory.ts";
import { Stream } from "../../src/runtime/stream.ts";
import { decodeBf16Array, encodeBf16Array } from "../../src/tensor/bf16.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { dequantizePerBlock, dequantizePerToken } from "../../src/quant/dequantize.ts";
import { numBlocks, scalesFromTmaAligned, scalesToTmaAligned } from "../../src/quant/layout.ts";
import { planQuantizePerBlock, planQuantizePerToken, quantizePerBlock, quantizePerToken, type QuantInputDType } from "../../src/quant/quantize.ts";
import {
  dequantizePerBlockReference,
  dequantizePerTokenReference,
  quantizePerBlockReference,
  quantizePerTokenReference,
  type HostQuantized,
} from "../../src/quant/reference.ts";
import { transformScalesFromTmaAligned, transformScalesToTmaAligned } from "../../src/quant/scaleTransform.ts";
import { edgeCaseMatrix, firstMismatch, randomActivations } from "../support/quantData.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("quantization GPU tests");

const DTYPES: QuantInputDType[] = ["bf16", "f32"];

/** Host input of `dtype` from f32 values (bf16: rounded; the reference reads the same bits). */
function hostInput(values: Float32Array, dtype: QuantInputDType): Float32Array | Uint16Array {
  return dtype === "bf16" ? encodeBf16Array(values) : values;
}

function upload(device: Device, host: Float32Array | Uint16Array, shape: number[], dtype: QuantInputDType): Tensor {
  return Tensor.fromHost(device, host, shape, dtype);
}

function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const at = firstMismatch(got, want);
  expect(at === -1 ? "identical" : `${what}[${at}]: got ${got[at]}, want ${want[at]}`).toBe("identical");
}

/** Quantizes on the GPU through a plan, into outputs poisoned with 0xff bytes first. */
function gpuQuantize(device: Device, granularity: "token" | "block", x: Tensor, stream?: Stream): { data: Uint8Array; scales: Float32Array } {
  const plan = granularity === "token" ? planQuantizePerToken(x.shape, x.dtype) : planQuantizePerBlock(x.shape, x.dtype);
  const out = plan.allocateOutputs(device);
  try {
    memsetD8(out.data, 0xff);
    memsetD8(out.scales, 0xff);
    plan.runInto(x, out, stream);
    stream?.synchronize();
    return { data: out.data.toHost() as Uint8Array, scales: out.scales.toHost() as Float32Array };
  } finally {
    out.data.dispose();
    out.scales.dispose();
  }
}

/** CPU per-token reference with scales in the GEMM's TMA-aligned layout. */
function tokenReference(host: Float32Array | Uint16Array, numGroups: number, m: number, k: number): HostQuantized {
  const ref = quantizePerTokenReference(host, numGroups * m, k);
  return { data: ref.data, scales: scalesToTmaAligned(ref.scales, m, numBlocks(k), numGroups) };
}

/** Splits [rows, k] or [G, rows, k] into its extents. */
function dims(shape: readonly number[]): [g: number, rows: number, k: number] {
  return shape.length === 3 ? (shape as [number, number, number]) : [1, shape[0]!, shape[1]!];
}

/** Uploads `values` as `dtype`, quantizes on the GPU and compares codes and scales with the CPU reference. */
function expectMatchesReference(device: Device, granularity: "token" | "block", values: Float32Array, shape: number[], dtype: QuantInputDType): void {
  const [g, rows, k] = dims(shape);
  const host = hostInput(values, dtype);
  using x = upload(device, host, shape, dtype);
  const got = gpuQuantize(device, granularity, x);
  const want = granularity === "token" ? tokenReference(host, g, rows, k) : quantizePerBlockReference(host, rows, k, g);
  expectSame("data", got.data, want.data);
  expectSame("scales", got.scales, want.scales);
}

describe.skipIf(!gpu.ok)("quantization kernels on the GPU match the CPU reference bit for bit", () => {
  const device = (): Device => Device.get(0);

  for (const dtype of DTYPES) {
    for (const shape of [[5, 272], [257, 1024], [3, 7, 384], [1, 16]]) {
      test(`per token, ${dtype} [${shape}]: random data`, () => {
        const [g, m, k] = dims(shape);
        expectMatchesReference(device(), "token", randomActivations(g * m, k, 7 + m), shape, dtype);
      });
    }

    test(`per token, ${dtype}: zeros, a huge value, NaN, ±Inf, -0, subnormals, e4m3 midpoints`, () => {
      expectMatchesReference(device(), "token", edgeCaseMatrix(10, 640, 11), [10, 640], dtype);
    });

    for (const shape of [[300, 400], [2, 130, 256], [128, 128]]) {
      test(`per block, ${dtype} [${shape}]: random data`, () => {
        const [g, n, k] = dims(shape);
        expectMatchesReference(device(), "block", randomActivations(g * n, k, 3 + n), shape, dtype);
      });
    }

    test(`per block, ${dtype}: special values`, () => {
      // 1x128 strips of special values inside 128x128 blocks; one row of a block is all NaN.
      const values = edgeCaseMatrix(256, 512, 5);
      values.fill(NaN, 0, 128);
      expectMatchesReference(device(), "block", values, [256, 512], dtype);
    });
  }

  test("a strided input (row stride > K) on a non-default stream gives the contiguous result", () => {
    const [m, k, stride] = [33, 256, 288];
    const padded = encodeBf16Array(randomActivations(m, stride, 21));
    using base = Tensor.fromHost(device(), padded, [m, stride], "bf16");
    const x = base.view([m, k], [stride, 1]);
    using stream = Stream.create(device());
    const got = gpuQuantize(device(), "token", x, stream);
    const compact = new Uint16Array(m * k);
    for (let r = 0; r < m; r++) compact.set(padded.subarray(r * stride, r * stride + k), r * k);
    const want = tokenReference(compact, 1, m, k);
    expectSame("data", got.data, want.data);
    expectSame("scales", got.scales, want.scales);
  });

  test("large activations [4096, 7168] bf16: sampled rows and every scale column match", () => {
    const [m, k] = [4096, 7168];
    const host = encodeBf16Array(randomActivations(m, k, 99));
    using x = Tensor.fromHost(device(), host, [m, k], "bf16");
    const got = gpuQuantize(device(), "token", x);
    const kBlocks = numBlocks(k);
    for (const row of [0, 1, 2, 3, 511, 1024, 2047, 4093, 4094, 4095]) {
      const want = quantizePerTokenReference(host.subarray(row * k, (row + 1) * k), 1, k);
      expectSame(`data row ${row}`, got.data.subarray(row * k, (row + 1) * k), want.data);
      const gotScales = Array.from({ length: kBlocks }, (_, kb) => got.scales[kb * m + row]!);
      expectSame(`scales row ${row}`, gotScales, want.scales);
    }
  });

  test("one-call forms: quantizePerToken / quantizePerBlock return the plan's tensors", () => {
    const host = encodeBf16Array(randomActivations(8, 256, 1));
    using x = Tensor.fromHost(device(), host, [8, 256], "bf16");
    const token = quantizePerToken(device(), x);
    const block = quantizePerBlock(device(), x);
    try {
      expect(token.scales.shape).toEqual([2, 8]);
      expect(block.scales.shape).toEqual([1, 2]);
      const tokenWant = tokenReference(host, 1, 8, 256), blockWant = quantizePerBlockReference(host, 8, 256);
      expectSame("token data", token.data.toHost(), tokenWant.data);
      expectSame("token scales", token.scales.toHost(), tokenWant.scales);
      expectSame("block data", block.data.toHost(), blockWant.data);
      expectSame("block scales", block.scales.toHost(), blockWant.scales);
    } finally {
      for (const t of [token.data, token.scales, block.data, block.scales]) t.dispose();
    }
  });

  test("scale transforms: logical ⇄ TMA-aligned, padding written as 0, batched", () => {
    for (const [g, m, kBlocks] of [[1, 9, 5], [3, 6, 2], [2, 4, 56]] as const) {
      const logical = Float32Array.from(randomActivations(g * m, kBlocks, m), Math.abs);
      const shape = g === 1 ? [m, kBlocks] : [g, m, kBlocks];
      using src = Tensor.fromHost(device(), logical, shape, "f32");
      using aligned = transformScalesToTmaAligned(device(), src);
      const raw = aligned.toHost() as Float32Array;
      expectSame("aligned", raw, scalesToTmaAligned(logical, m, kBlocks, g));
      using back = transformScalesFromTmaAligned(device(), aligned, m);
      expectSame("logical", back.toHost(), logical);
      expectSame("cpu round trip", scalesFromTmaAligned(raw, m, kBlocks, g), logical);
    }
  });

  test("dequantization to f32 and bf16 matches f32(decode · scale) (NaN codes give NaN)", () => {
    const [m, k] = [12, 640];
    const host = edgeCaseMatrix(m, k, 8);
    using x = Tensor.fromHost(device(), host, [m, k], "f32");
    const token = quantizePerToken(device(), x);
    const block = quantizePerBlock(device(), x);
    try {
      const tokenRef = quantizePerTokenReference(host, m, k);
      const blockRef = quantizePerBlockReference(host, m, k);
      const wantToken = dequantizePerTokenReference(tokenRef.data, tokenRef.scales, m, k);
      const wantBlock = dequantizePerBlockReference(blockRef.data, blockRef.scales, m, k);
      using tokenF32 = dequantizePerToken(device(), token.data, token.scales, { outDtype: "f32" });
      using blockF32 = dequantizePerBlock(device(), block.data, block.scales, { outDtype: "f32" });
      using tokenBf16 = dequantizePerToken(device(), token.data, token.scales);
      using blockBf16 = dequantizePerBlock(device(), block.data, block.scales, { outDtype: "bf16" });
      expectSame("per-token f32", tokenF32.toHost(), wantToken);
      expectSame("per-block f32", blockF32.toHost(), wantBlock);
      expectSame("per-token bf16", decodeBf16Array(tokenBf16.toHost() as Uint16Array), decodeBf16Array(encodeBf16Array(wantToken)));
      expectSame("per-block bf16", decodeBf16Array(blockBf16.toHost() as Uint16Array), decodeBf16Array(encodeBf16Array(wantBlock)));
    } finally {
      for (const t of [token.data, token.scales, block.data, block.scales]) t.dispose();
    }
  });

  test("refused before launch: misaligned input, wrong device tensor shapes, bad options", () => {
    using base = Tensor.fromHost(device(), new Uint16Array(4 * 144), [4, 144], "bf16");
    expect(() => quantizePerToken(device(), base.view([3, 128], [144, 1], 2))).toThrow(InvalidArgumentError);
    expect(() => quantizePerToken(device(), base.view([4, 100], [144, 1]))).toThrow(/multiple of 16/);
    expect(() => dequantizePerToken(device(), base, base)).toThrow(InvalidArgumentError);
    expect(() => quantizePerBlock(device(), base, { stream: "default" } as never)).toThrow(/options.stream/);
  });
});
