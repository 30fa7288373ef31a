/**
 * Where the contiguous grouped GEMM loses against the dense kernel on the same total M (GPU, not
 * part of `bun run bench`):
 *
 *   bun bench/contiguous-gap.ts [--rounds N]
 *
 * For each DESIGN §7 contiguous shape, four calls timed in alternation (bench/timing.ts
 * timeInterleaved, L2 flushed before each): the dense plan (one expert's B), the contiguous plan
 * with each expert's rows in one segment (the benchmark's layout), the same plan with every row on
 * expert 0 (dense's B traffic: what is left is the grouped kernel's own cost), and experts
 * interleaved every 256 rows (each strip of tiles walks every expert's B in turn). Ratios are dense
 * time / that call's; in one process they repeat to ±0.3% where the bench's own contiguous rows
 * move several percent between runs (docs/perf-notes.md, run 44).
 */
import { planFp8GemmNt, planMGroupedFp8GemmNtContiguous } from "../src/gemm/index.ts";
import { numBlocks } from "../src/quant/layout.ts";
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { CONTIGUOUS_SHAPES, contiguousDeviceOperands } from "./grouped.ts";
import { KernelTimer } from "./timing.ts";

const roundsArg = Bun.argv.indexOf("--rounds");
const rounds = roundsArg >= 0 ? Number(Bun.argv[roundsArg + 1]) : 2;
if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer (got ${Bun.argv[roundsArg + 1]})`);

const device = Device.get(0);
using stream = Stream.create(device);
using timer = KernelTimer.create(device, stream);

for (const [numGroups, mPerGroup, n, k] of CONTIGUOUS_SHAPES) {
  const mTotal = numGroups * mPerGroup;
  const kBlocks = numBlocks(k);
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const { a, sfa, b, sfb, d } = contiguousDeviceOperands(device, mTotal, numGroups, n, k, keep);
    const indices = (expertOf: (row: number) => number): Tensor =>
      keep(Tensor.fromHost(device, Int32Array.from({ length: mTotal }, (_, row) => expertOf(row)), [mTotal], "i32"));
    const layouts = {
      segments: indices((row) => Math.floor(row / mPerGroup)),
      expert0: indices(() => 0),
      interleaved256: indices((row) => Math.floor(row / 256) % numGroups),
    };
    const grouped = planMGroupedFp8GemmNtContiguous(device, { mTotal, n, k, numGroups }, { debugChecks: false });
    const dense = planFp8GemmNt(device, { m: mTotal, n, k, outDtype: "bf16" });
    const denseArgs = { a, sfa, b: b.view([n, k]), sfb: sfb.view([numBlocks(n), kBlocks]), d };
    const calls = [
      () => dense.run(denseArgs, stream),
      ...Object.values(layouts).map((mIndices) => () => grouped.run({ a, sfa, b, sfb, d, mIndices }, stream)),
    ];
    for (let round = 0; round < rounds; round++) {
      const [denseT, ...groupedT] = timer.timeInterleaved(calls, { runs: 30 });
      const denseUs = denseT?.medianUs ?? Number.NaN;
      const parts = Object.keys(layouts).map((name, i) => {
        const us = groupedT[i]?.medianUs ?? Number.NaN;
        return `${name} ${us.toFixed(1)} µs (${(denseUs / us).toFixed(3)})`;
      });
      console.log(`G=${numGroups} M/g=${mPerGroup} N=${n} K=${k} round ${round}: dense ${denseUs.toFixed(1)} µs | ${parts.join(" | ")}`);
    }
  } finally {
    made.forEach((t) => t.dispose());
  }
}
