/**
 * The per-token BF16 cast with 16 values per lane against 32 (cuda/bungemm/quant.cuh
 * per_token_cast's kHalves = 1 and 2; 32 also with registers capped for 6 CTAs per SM), timed in alternation like the benchmark (L2 flushed, CUDA
 * events, median), each shape's outputs compared bit for bit between the two and with the CPU
 * reference on sampled rows. Not part of `bun run bench`; nothing is written to bench/results/.
 *
 *   bun bench/perTokenAb.ts [--rounds N]
 */
import { parseArgs } from "node:util";
import { getKernel } from "../src/jit/jit.ts";
import { KernelArgs } from "../src/runtime/kernelArgs.ts";
import { launchKernel } from "../src/runtime/launch.ts";
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { CAST_FIELDS, QUANT_THREADS, perTokenGrid } from "../src/quant/kernels.ts";
import { alignedM, numBlocks } from "../src/quant/layout.ts";
import { quantizePerTokenReference } from "../src/quant/reference.ts";
import { gbps, median } from "./metrics.ts";
import { quantBytes, randomInput } from "./quant.ts";
import { measureCopyTBs } from "./copyBandwidth.ts";
import { KernelTimer } from "./timing.ts";

// 16 values per lane (the previous kernel), 32, and 32 with registers capped for 6 CTAs per SM.
const VARIANTS = [
  { halves: 1, minBlocks: 0 },
  { halves: 2, minBlocks: 0 },
  { halves: 2, minBlocks: 6 },
] as const;
type Variant = (typeof VARIANTS)[number];
const entry = (v: Variant): string => `bungemm_probe_per_token_bf16_h${v.halves}_b${v.minBlocks}`;
const label = (v: Variant): string => `${v.halves * 16} values/lane${v.minBlocks > 0 ? `, ${v.minBlocks} CTAs/SM` : ""}`;
const params = CAST_FIELDS.map((f) => `bungemm::${f.kind === "u64" ? "uint64_t" : "uint32_t"} ${f.name}`).join(", ");
const args = CAST_FIELDS.map((f) => f.name).join(", ");
const SOURCE = [
  "#include <bungemm/quant.cuh>",
  ...VARIANTS.map(
    (v) =>
      `extern "C" __global__ void __launch_bounds__(${QUANT_THREADS}${v.minBlocks > 0 ? `, ${v.minBlocks}` : ""}) ${entry(v)}(${params}) {\n` +
      `  bungemm::quant::per_token_cast<false, ${v.halves}>(${args});\n}`,
  ),
  "",
].join("\n");

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
const device = Device.get(0);
using stream = Stream.create(device);
using timer = KernelTimer.create(device, stream);
const copyTBs = measureCopyTBs(device, timer);
console.log(`perTokenAb: ${device.name}; copy ${copyTBs.toFixed(2)} TB/s; ${rounds} rounds of 20 interleaved runs`);

for (const [m, k] of [[4096, 7168], [4096, 16384], [4096, 2048], [128, 7168], [128, 2048], [1000, 7168]] as const) {
  const host = randomInput(m * k, "bf16") as Uint16Array;
  using x = Tensor.fromHost(device, host, [m, k], "bf16");
  const mPad = alignedM(m), kBlocks = numBlocks(k);
  const outs = VARIANTS.map(() => ({ data: Tensor.empty(device, [m, k], "e4m3"), scales: Tensor.empty(device, [kBlocks, mPad], "f32") }));
  const launches = VARIANTS.map((v, i) => {
    const fn = getKernel(device, { name: entry(v), source: SOURCE });
    const kernelArgs = new KernelArgs(CAST_FIELDS)
      .set("x", x.ptr)
      .set("out", outs[i]!.data.ptr)
      .set("scales", outs[i]!.scales.ptr)
      .set("rows", m)
      .set("k", k)
      .set("numGroups", 1)
      .set("xRowStride", k);
    const grid: [number, number, number] = [perTokenGrid(1, mPad, kBlocks, v.halves), 1, 1];
    return () => launchKernel(fn, { grid, block: [QUANT_THREADS, 1, 1], sharedBytes: 0, stream }, kernelArgs);
  });
  const us: number[][] = VARIANTS.map(() => []);
  for (let r = 0; r < rounds; r++) timer.timeInterleaved(launches).forEach((t, i) => us[i]!.push(t.medianUs));
  stream.synchronize();
  const data = outs.map((o) => o.data.toHost() as Uint8Array);
  const scales = outs.map((o) => o.scales.toHost() as Float32Array);
  const same = VARIANTS.every((_, j) => data[0]!.every((c, i) => c === data[j]![i]) && scales[0]!.every((v, i) => Object.is(v, scales[j]![i])));
  let reference = true;
  for (const row of [0, m >> 1, m - 1]) {
    const want = quantizePerTokenReference(host.subarray(row * k, (row + 1) * k), 1, k);
    reference &&= want.data.every((c, i) => c === data[1]![row * k + i]) && want.scales.every((v, kb) => Object.is(v, scales[1]![kb * mPad + row]));
  }
  const bytes = quantBytes({ kind: "quant-token", rows: m, k, dtype: "bf16" });
  const describe = (v: Variant, i: number): string =>
    `${label(v)} ${us[i]!.map((u) => u.toFixed(1)).join(", ")} us (${((100 * gbps(bytes, median(us[i]!))) / (copyTBs * 1000)).toFixed(1)}% of copy)`;
  console.log(`[${m}, ${k}]: ${VARIANTS.map(describe).join(" | ")}; outputs equal: ${same}; rows match the CPU reference: ${reference}`);
  for (const o of outs) {
    o.data.dispose();
    o.scales.dispose();
  }
}
