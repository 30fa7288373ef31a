/**
 * The per-token cast's two load paths timed in alternation like the benchmark (L2 flushed, CUDA
 * events, median): loads into registers (per_token_cast, one CTA per item) against bulk copies into
 * shared memory (per_token_cast_bulk, a resident grid walking the items; also on the balanced grid
 * of equal item counts per CTA), for BF16 and F32 inputs.
 * Each shape's outputs are compared bit for bit between the paths and with the CPU reference on
 * sampled rows. Not part of `bun run bench`; nothing is written to bench/results/.
 *
 *   bun bench/perTokenAb.ts [--rounds N]
 */
import { parseArgs } from "node:util";
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { launchQuantKernel, PER_TOKEN_BULK_CTAS_PER_SM, perTokenGrid, type QuantKernelId } from "../src/quant/kernels.ts";
import { alignedM, numBlocks } from "../src/quant/layout.ts";
import type { QuantInputDType } from "../src/quant/quantize.ts";
import { quantizePerTokenReference } from "../src/quant/reference.ts";
import { gbps, median } from "./metrics.ts";
import { quantBytes, randomInput } from "./quant.ts";
import { measureCopyTBs } from "./copyBandwidth.ts";
import { KernelTimer } from "./timing.ts";

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
const device = Device.get(0);
using stream = Stream.create(device);
using timer = KernelTimer.create(device, stream);
const copyTBs = measureCopyTBs(device, timer);
console.log(`perTokenAb: ${device.name}; copy ${copyTBs.toFixed(2)} TB/s; ${rounds} rounds of 20 interleaved runs`);

const SHAPES: [number, number, QuantInputDType][] = [
  [4096, 7168, "bf16"], [4096, 16384, "bf16"], [4096, 2048, "bf16"], [128, 7168, "bf16"], [128, 2048, "bf16"],
  [1000, 7168, "bf16"], [4096, 7168, "f32"], [128, 7168, "f32"],
];
for (const [m, k, dtype] of SHAPES) {
  const host = randomInput(m * k, dtype);
  using x = Tensor.fromHost(device, host, [m, k], dtype);
  const mPad = alignedM(m), kBlocks = numBlocks(k);
  const items = perTokenGrid(1, mPad, kBlocks);
  const paths: { label: string; id: QuantKernelId; grid: number }[] = [
    { label: "register loads", id: dtype === "bf16" ? "perTokenBf16" : "perTokenF32", grid: items },
    { label: "bulk copies", id: dtype === "bf16" ? "perTokenBulkBf16" : "perTokenBulkF32", grid: Math.min(items, PER_TOKEN_BULK_CTAS_PER_SM * device.smCount) },
  ];
  // The same resident kernel on the fewest CTAs that keep its items per CTA: every CTA walks the
  // same number of items, so none casts one more while the others have finished.
  const itemsPerCta = Math.ceil(items / paths[1]!.grid);
  paths.push({ label: "bulk balanced", id: paths[1]!.id, grid: Math.ceil(items / itemsPerCta) });
  const outs = paths.map(() => ({ data: Tensor.empty(device, [m, k], "e4m3"), scales: Tensor.empty(device, [kBlocks, mPad], "f32") }));
  const launches = paths.map((path, i) => () =>
    launchQuantKernel(device, path.id, path.grid, { x: x.ptr, out: outs[i]!.data.ptr, scales: outs[i]!.scales.ptr, rows: m, k, numGroups: 1, xRowStride: k }, stream),
  );
  const us: number[][] = paths.map(() => []);
  for (let r = 0; r < rounds; r++) timer.timeInterleaved(launches).forEach((t, i) => us[i]!.push(t.medianUs));
  stream.synchronize();
  const data = outs.map((o) => o.data.toHost() as Uint8Array);
  const scales = outs.map((o) => o.scales.toHost() as Float32Array);
  const same = paths.every((_, p) => data[0]!.every((c, i) => c === data[p]![i]) && scales[0]!.every((v, i) => Object.is(v, scales[p]![i])));
  let reference = true;
  for (const row of [0, m >> 1, m - 1]) {
    const want = quantizePerTokenReference(host.subarray(row * k, (row + 1) * k), 1, k);
    reference &&= want.data.every((c, i) => c === data[1]![row * k + i]) && want.scales.every((v, kb) => Object.is(v, scales[1]![kb * mPad + row]));
  }
  const bytes = quantBytes({ kind: "quant-token", rows: m, k, dtype });
  const describe = (label: string, i: number): string =>
    `${label} ${us[i]!.map((u) => u.toFixed(1)).join(", ")} us (${((100 * gbps(bytes, median(us[i]!))) / (copyTBs * 1000)).toFixed(1)}% of copy)`;
  console.log(`${dtype} [${m}, ${k}]: ${paths.map((p, i) => describe(p.label, i)).join(" | ")}; outputs equal: ${same}; rows match the CPU reference: ${reference}`);
  for (const o of outs) {
    o.data.dispose();
    o.scales.dispose();
  }
}
