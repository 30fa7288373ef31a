/**
 * Dense suite: every DESIGN §7 dense shape, ours against cuBLASLt plain FP8 ("unit") and cuBLASLt
 * with the same 1x128 / 128x128 block scaling ("block"), in one run on one card.
 *
 * Per shape: random inputs on the host → upload → time ours and both cuBLASLt plans in alternation
 * → check ours against the f64 reference on sampled rows, and the block-scaled baseline the same
 * way (which also validates the scale layouts handed to cuBLASLt) → free everything.
 */
import { planFp8GemmNt, type KernelConfig } from "../src/gemm/index.ts";
import type { Device } from "../src/runtime/device.ts";
import type { Stream } from "../src/runtime/stream.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { decodeBf16Array } from "../src/tensor/bf16.ts";
import { alignedM, numBlocks } from "../src/quant/layout.ts";
import { referenceGemmNtRows, relativeFrobeniusError } from "../src/quant/referenceGemm.ts";
import { planCublasLtFp8, toCublasLtBlockScales, type CublasLt, type Fp8Scaling, type PlanResult } from "./cublasLt.ts";
import { makeDenseHostInputs, type DenseHostInputs } from "./inputs.ts";
import { gbps, gemmBytes, gemmFlops, speedup, tflops } from "./metrics.ts";
import type { BaselineResult, BenchRow, RowConfig } from "./record.ts";
import type { BenchContext, BenchSuite } from "./suite.ts";

/** DESIGN §7: DeepSeek-V3's dense (N, K) pairs. */
export const DENSE_NK: readonly (readonly [n: number, k: number])[] = [
  [2112, 7168],
  [24576, 1536],
  [32768, 512],
  [7168, 16384],
  [4096, 7168],
  [7168, 2048],
];

/** Every dense (M, N, K) the suite runs: M in {1, 64, 128, 4096} × DENSE_NK, then 8192³. */
export function denseShapes(): [m: number, n: number, k: number][] {
  const shapes: [number, number, number][] = [];
  for (const m of [1, 64, 128, 4096]) for (const [n, k] of DENSE_NK) shapes.push([m, n, k]);
  shapes.push([8192, 8192, 8192]);
  return shapes;
}

/** The row config DESIGN §8 shows (blockM, blockN, stages, cluster size) plus the other fields. */
export function rowConfig(config: Readonly<KernelConfig>): RowConfig {
  const { blockM, blockN, numStages, clusterM, clusterN, ...rest } = config;
  return { blockM, blockN, stages: numStages, cluster: clusterM * clusterN, clusterM, clusterN, ...rest };
}

/** Rows the error check recomputes in f64: the first and the last (tile edges), at most two N·K passes. */
export function sampledRows(m: number): number[] {
  return m <= 1 ? [0] : [0, m - 1];
}

export interface DeviceInputs extends Disposable {
  a: Tensor;
  b: Tensor;
  sfa: Tensor;
  sfb: Tensor;
  /** B scales re-padded for cuBLASLt's BLK128x128 mode (the same tensor when no padding is needed). */
  sfbCublasLt: Tensor;
  d: Tensor;
}

/** The inputs on the device (scales in both layouts), and D allocated; disposing frees them all. */
export function uploadDenseInputs(device: Device, host: DenseHostInputs): DeviceInputs {
  const { m, n, k } = host;
  const kBlocks = numBlocks(k);
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const sfbCublas = toCublasLtBlockScales(host.sfb, numBlocks(n), kBlocks);
    const sfb = keep(Tensor.fromHost(device, host.sfb, [numBlocks(n), kBlocks], "f32"));
    return {
      a: keep(Tensor.fromHost(device, host.a, [m, k], "e4m3")),
      b: keep(Tensor.fromHost(device, host.b, [n, k], "e4m3")),
      // Stored transposed and TMA-aligned (DESIGN §2): [ceil(K/128), M_pad].
      sfa: keep(Tensor.fromHost(device, host.sfaAligned, [kBlocks, alignedM(m)], "f32")),
      sfb,
      sfbCublasLt: sfbCublas === host.sfb ? sfb : keep(Tensor.fromHost(device, sfbCublas, [numBlocks(n), sfbCublas.length / numBlocks(n)], "f32")),
      d: keep(Tensor.empty(device, [m, n], "bf16")),
      [Symbol.dispose]: () => made.forEach((t) => t.dispose()),
    };
  } catch (error) {
    made.forEach((t) => t.dispose());
    throw error;
  }
}

/** ‖D − reference‖ / ‖reference‖ over the sampled rows of the D now on the device. */
function sampledRelError(d: Tensor, host: DenseHostInputs, rows: readonly number[], reference: ArrayLike<number>, stream: Stream): number {
  stream.synchronize();
  const all = decodeBf16Array(d.toHost() as Uint16Array);
  const got = new Float64Array(rows.length * host.n);
  rows.forEach((row, i) => got.set(all.subarray(row * host.n, (row + 1) * host.n), i * host.n));
  return relativeFrobeniusError(got, reference);
}

/** The cuBLASLt plan of one baseline, or why there is none (disposing is a no-op then). */
function baselinePlan(lt: CublasLt | undefined, scaling: Fp8Scaling, host: DenseHostInputs): PlanResult | undefined {
  return lt === undefined ? undefined : planCublasLtFp8(lt, host.m, host.n, host.k, { scaling });
}

const usOf = (r: BaselineResult | undefined): number | null => (r !== undefined && "us" in r ? r.us : null);

function describe(r: BaselineResult | undefined): string {
  if (r === undefined) return "–";
  if ("unsupported" in r) return `n/a (${r.unsupported})`;
  return `${r.us.toFixed(1)} µs${r.relError === null ? "" : ` err ${r.relError.toExponential(1)}`}`;
}

async function runDense(ctx: BenchContext): Promise<BenchRow[]> {
  if (ctx.cublasLt === undefined) ctx.note(`dense: no cuBLASLt baseline (${ctx.cublasLtMissing ?? "not loaded"})`);
  const rows: BenchRow[] = [];
  for (const [m, n, k] of denseShapes()) {
    const label = `dense ${m}x${n}x${k}`;
    try {
      const host = makeDenseHostInputs(m, n, k);
      using inputs = uploadDenseInputs(ctx.device, host);
      const sampled = sampledRows(m);
      const check = { rows: sampled, reference: referenceGemmNtRows(sampled, host.a, host.sfaLogical, host.b, host.sfb, m, n, k) };

      const plan = planFp8GemmNt(ctx.device, { m, n, k, outDtype: "bf16" });
      const args = { a: inputs.a, sfa: inputs.sfa, b: inputs.b, sfb: inputs.sfb, d: inputs.d };
      const runOurs = (): void => plan.run(args, ctx.stream);
      const unitPlan = baselinePlan(ctx.cublasLt, "unit", host);
      const blockPlan = baselinePlan(ctx.cublasLt, "block", host);
      try {
        // Ours and both baselines timed in alternation (timeInterleaved), so each ratio compares
        // calls made under the same clock; D is shared, so each result is checked after a fresh run.
        const runOf = (p: PlanResult | undefined, sfb: Tensor) =>
          p?.ok ? (): void => p.plan.run(inputs.a, inputs.b, inputs.d, inputs.sfa, sfb, ctx.stream) : undefined;
        const runUnit = runOf(unitPlan, inputs.sfbCublasLt);
        const runBlock = runOf(blockPlan, inputs.sfbCublasLt);
        const calls = [runOurs, runUnit, runBlock].filter((f): f is () => void => f !== undefined);
        const timings = ctx.timer.timeInterleaved(calls, ctx.timing);
        const usOfCall = (f: (() => void) | undefined): number | undefined => (f === undefined ? undefined : timings[calls.indexOf(f)]?.medianUs);
        const oursUs = usOfCall(runOurs) ?? Number.NaN;
        runOurs();
        const relError = sampledRelError(inputs.d, host, check.rows, check.reference, ctx.stream);
        let blockError: number | null = null;
        if (runBlock !== undefined) {
          runBlock();
          blockError = sampledRelError(inputs.d, host, check.rows, check.reference, ctx.stream);
        }
        const result = (p: PlanResult | undefined, f: (() => void) | undefined, err: number | null): BaselineResult | undefined =>
          p === undefined ? undefined : p.ok ? { us: usOfCall(f) ?? Number.NaN, relError: err } : { unsupported: p.reason };
        const unit = result(unitPlan, runUnit, null);
        const block = result(blockPlan, runBlock, blockError);

        const flops = gemmFlops(m, n, k);
        const bytes = gemmBytes(m, n, k);
        ctx.log(
          `${label.padEnd(24)} ours ${oursUs.toFixed(1)} µs ${tflops(flops, oursUs).toFixed(0)} TFLOPS ${gbps(bytes, oursUs).toFixed(0)} GB/s err ${relError.toExponential(1)}` +
            ` | cuBLASLt ${describe(unit)} | block ${describe(block)}`,
        );
        rows.push({
          kind: "dense",
          m,
          n,
          k,
          groups: 1,
          us: oursUs,
          tflops: tflops(flops, oursUs),
          gbps: gbps(bytes, oursUs),
          vsCublasLt: speedup(usOf(unit), oursUs),
          vsCublasLtBlock: speedup(usOf(block), oursUs),
          relError,
          config: rowConfig(plan.config),
          baselines: { ...(unit ? { cublasLt: unit } : {}), ...(block ? { cublasLtBlock: block } : {}) },
        });
      } finally {
        if (unitPlan?.ok) unitPlan.plan.dispose();
        if (blockPlan?.ok) blockPlan.plan.dispose();
      }
    } catch (error) {
      ctx.error(`${label} failed: ${error instanceof Error ? error.message : String(error)}`);
      // A failed launch can leave the stream in an error state; later shapes report their own.
      try {
        ctx.stream.synchronize();
      } catch {
        // The error is already noted above; the next shape will surface a sticky one again.
      }
    }
  }
  return rows;
}

export const suite: BenchSuite = { name: "dense", run: runDense };
