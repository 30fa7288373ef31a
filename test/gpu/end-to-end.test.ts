/**
 * The README's path through the public surface: BF16 data → GPU quantizers → fp8GemmNt, checked
 * against the f64 reference computed from the very FP8 codes and scales the quantizers produced,
 * and against the unquantized product (quantization error only).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import {
  Device,
  Tensor,
  decodeBf16Array,
  encodeBf16Array,
  fp8GemmNt,
  quantizePerBlock,
  quantizePerToken,
  referenceGemmNtRows,
  relativeFrobeniusError,
  scalesFromTmaAligned,
} from "../../src/index.ts";
import { BF16_TOLERANCE } from "../support/gemmCheck.ts";
import { gpuGate } from "../support/gpuGate.ts";

// A test's first call JIT-compiles its kernels (NVRTC; seconds for the larger unrolled tiles on a
// cold cache), so every test here gets more than Bun's 5-second default.
setDefaultTimeout(120_000);

const gpu = gpuGate("end-to-end GPU test");

describe.skipIf(!gpu.ok)("README path: quantize on the GPU, then fp8GemmNt", () => {
  test("BF16 activations and weights → FP8 + scales → BF16 product", () => {
    const device = Device.get(0);
    const [m, n, k] = [128, 1024, 2048];
    const xs = Float32Array.from({ length: m * k }, () => Math.random() - 0.5);
    const ws = Float32Array.from({ length: n * k }, () => (Math.random() - 0.5) * 0.1);
    using x = Tensor.fromHost(device, encodeBf16Array(xs), [m, k], "bf16");
    using w = Tensor.fromHost(device, encodeBf16Array(ws), [n, k], "bf16");
    const a = quantizePerToken(device, x);
    const b = quantizePerBlock(device, w);
    using d = Tensor.empty(device, [m, n], "bf16");
    try {
      fp8GemmNt({ a: a.data, sfa: a.scales, b: b.data, sfb: b.scales, d });
      const out = decodeBf16Array(d.toHost() as Uint16Array);
      const kBlocks = k / 128;
      const rows = [0, 17, m - 1];
      const aCodes = a.data.toHost() as Uint8Array, bCodes = b.data.toHost() as Uint8Array;
      const sfa = scalesFromTmaAligned(a.scales.toHost() as Float32Array, m, kBlocks);
      const ref = referenceGemmNtRows(rows, aCodes, sfa, bCodes, b.scales.toHost() as Float32Array, m, n, k);
      const got = new Float64Array(rows.length * n);
      rows.forEach((row, i) => got.set(out.subarray(row * n, (row + 1) * n), i * n));
      expect(relativeFrobeniusError(got, ref)).toBeLessThanOrEqual(BF16_TOLERANCE);

      // Against the unquantized product: FP8 quantization of both operands costs a few percent.
      const exact = new Float64Array(rows.length * n);
      const xr = decodeBf16Array(encodeBf16Array(xs)), wr = decodeBf16Array(encodeBf16Array(ws));
      rows.forEach((row, i) => {
        for (let col = 0; col < n; col++) {
          let s = 0;
          for (let kk = 0; kk < k; kk++) s += xr[row * k + kk]! * wr[col * k + kk]!;
          exact[i * n + col] = s;
        }
      });
      expect(relativeFrobeniusError(got, exact)).toBeLessThan(0.08);
    } finally {
      for (const t of [a.data, a.scales, b.data, b.scales]) t.dispose();
    }
  });
});
