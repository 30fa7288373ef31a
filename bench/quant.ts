/**
 * Quant suite: the per-token (activations) and per-block (weights) casts on DeepSeek-V3 shapes,
 * timed like the GEMMs (L2 flushed, CUDA events, median). They are memory-bound, so the figure of
 * merit is GB/s (input read + codes and scales written) against this run's copy bandwidth
 * (`config.copyFraction`; the goal is ≥ 0.8 at M = 4096, K = 7168).
 *
 * Each shape is also checked bit for bit against the CPU reference on sampled rows; a mismatch is
 * a suite error, not a number.
 */
import { dtypeBytes } from "../src/tensor/dtype.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { numBlocks } from "../src/quant/layout.ts";
import { planQuantizePerBlock, planQuantizePerToken, type QuantInputDType, type QuantizePlan } from "../src/quant/quantize.ts";
import { quantizePerBlockReference, quantizePerTokenReference } from "../src/quant/reference.ts";
import { DENSE_NK } from "./dense.ts";
import { randomBytes } from "./inputs.ts";
import { gbps } from "./metrics.ts";
import type { BenchRow } from "./record.ts";
import { measureCopyTBs } from "./copyBandwidth.ts";
import type { BenchContext, BenchSuite } from "./suite.ts";

export interface QuantShape {
  kind: "quant-token" | "quant-block";
  /** Rows: tokens M for per-token, weight rows N for per-block. */
  rows: number;
  k: number;
  dtype: QuantInputDType;
}

/** Activations M x K for the dense K values, at decode and prefill sizes; weights N x K of DESIGN §7. */
export function quantShapes(): QuantShape[] {
  const shapes: QuantShape[] = [];
  for (const m of [128, 4096]) for (const k of [7168, 2048, 16384]) shapes.push({ kind: "quant-token", rows: m, k, dtype: "bf16" });
  shapes.push({ kind: "quant-token", rows: 4096, k: 7168, dtype: "f32" });
  for (const [n, k] of DENSE_NK) shapes.push({ kind: "quant-block", rows: n, k, dtype: "bf16" });
  return shapes;
}

/** Bytes a cast moves at least once: input, e4m3 codes, f32 scales (padding not counted). */
export function quantBytes(shape: QuantShape): number {
  const { rows, k } = shape;
  const scales = shape.kind === "quant-token" ? rows * numBlocks(k) : numBlocks(rows) * numBlocks(k);
  return rows * k * (dtypeBytes(shape.dtype) + 1) + scales * 4;
}

/**
 * Random finite inputs spread over 2^-12 .. 2^12: random bits with the exponent field folded into
 * that range (fast enough for 10^8 values).
 */
export function randomInput(count: number, dtype: QuantInputDType): Float32Array | Uint16Array {
  if (dtype === "bf16") {
    const bits = new Uint16Array(randomBytes(count * 2).buffer);
    for (let i = 0; i < count; i++) bits[i] = (bits[i]! & 0x807f) | ((115 + (((bits[i]! >>> 7) & 0xff) % 25)) << 7);
    return bits;
  }
  const words = new Uint32Array(randomBytes(count * 4).buffer);
  for (let i = 0; i < count; i++) words[i] = (words[i]! & 0x807fffff) | ((115 + (((words[i]! >>> 23) & 0xff) % 25)) << 23);
  return new Float32Array(words.buffer);
}

/** Rows compared with the CPU reference: first, last, and one in the middle (per-block: their whole blocks). */
function checkRows(shape: QuantShape): number[] {
  return shape.kind === "quant-token" ? [0, shape.rows >> 1, shape.rows - 1] : [0];
}

function mismatch(
  shape: QuantShape,
  plan: QuantizePlan,
  host: Float32Array | Uint16Array,
  data: Uint8Array,
  scales: Float32Array,
): string | undefined {
  const { rows, k } = shape;
  if (shape.kind === "quant-block") {
    // The first 128-row band: its codes and its scale row.
    const band = Math.min(128, rows);
    const want = quantizePerBlockReference(host.subarray(0, band * k), band, k);
    if (!want.data.every((c, i) => c === data[i])) return "per-block codes of the first band differ from the CPU reference";
    if (!want.scales.every((v, i) => Object.is(v, scales[i]))) return "per-block scales of the first band differ";
    return undefined;
  }
  const mPad = plan.scaleLayout.shape[1]!;
  for (const row of checkRows(shape)) {
    const want = quantizePerTokenReference(host.subarray(row * k, (row + 1) * k), 1, k);
    if (!want.data.every((c, i) => c === data[row * k + i])) return `per-token codes of row ${row} differ from the CPU reference`;
    if (!want.scales.every((v, kb) => Object.is(v, scales[kb * mPad + row]))) return `per-token scales of row ${row} differ`;
  }
  return undefined;
}

async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const shape of quantShapes()) {
    const label = `${shape.kind} ${shape.dtype} [${shape.rows}, ${shape.k}]`;
    try {
      const host = randomInput(shape.rows * shape.k, shape.dtype);
      const dims = [shape.rows, shape.k];
      const plan = shape.kind === "quant-token" ? planQuantizePerToken(dims, shape.dtype) : planQuantizePerBlock(dims, shape.dtype);
      using x = Tensor.fromHost(ctx.device, host, dims, shape.dtype);
      const out = plan.allocateOutputs(ctx.device);
      using data = out.data;
      using scales = out.scales;
      const timing = ctx.timer.time(() => plan.runInto(x, out, ctx.stream), ctx.timing);
      ctx.stream.synchronize();
      const wrong = mismatch(shape, plan, host, data.toHost() as Uint8Array, scales.toHost() as Float32Array);
      if (wrong !== undefined) {
        ctx.error(`${label}: ${wrong}`);
        continue;
      }
      const rate = gbps(quantBytes(shape), timing.medianUs);
      const copyFraction = rate / (ctx.copyTBs * 1000);
      // The same number of bytes moved by a plain device-to-device copy under the same clock (L2
      // flushed first): what launch, ramp-up and the flush's dirty lines cost a transfer this size.
      const sameSizeCopyTBs = measureCopyTBs(ctx.device, ctx.timer, Math.round(quantBytes(shape) / 2));
      const sameSizeCopyFraction = rate / (sameSizeCopyTBs * 1000);
      ctx.log(
        `${label}: ${timing.medianUs.toFixed(1)} us, ${rate.toFixed(0)} GB/s (${(100 * copyFraction).toFixed(0)}% of copy; ` +
          `a copy of the same bytes: ${(sameSizeCopyTBs * 1000).toFixed(0)} GB/s, ${(100 * sameSizeCopyFraction).toFixed(0)}% of it)`,
      );
      rows.push({
        kind: shape.kind,
        m: shape.kind === "quant-token" ? shape.rows : 0,
        n: shape.kind === "quant-block" ? shape.rows : 0,
        k: shape.k,
        groups: 1,
        us: timing.medianUs,
        tflops: 0,
        gbps: rate,
        vsCublasLt: null,
        vsCublasLtBlock: null,
        relError: null,
        config: { inDtype: shape.dtype, copyFraction, sameSizeCopyFraction },
      });
    } catch (error) {
      ctx.error(`${label} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return rows;
}

/** The quant suite bench/main.ts loads. */
export const suite: BenchSuite = { name: "quant", run };
