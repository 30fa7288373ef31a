/**
 * One dense GEMM shape, a few launches of ours and of cuBLASLt (unit scales), for a profiler:
 *   ncu --clock-control none -k regex:'bungemm|sm90' bun bench/profile.ts M,N,K [--config JSON]
 * `--config` overrides fields of the heuristics' choice (e.g. '{"clusterN":2}'). Not part of
 * `bun run bench`; nothing is written to bench/results/.
 */
import { Device } from "../src/runtime/device.ts";
import { Stream } from "../src/runtime/stream.ts";
import { GemmPlan } from "../src/gemm/plan.ts";
import { selectConfig } from "../src/gemm/heuristics.ts";
import { deviceLimits } from "../src/gemm/resolveConfig.ts";
import type { GemmProblem, KernelConfig } from "../src/gemm/config.ts";
import { makeDenseHostInputs } from "./inputs.ts";
import { CublasLt, planCublasLtFp8 } from "./cublasLt.ts";
import { uploadDenseInputs } from "./dense.ts";

const [shapeArg, ...rest] = Bun.argv.slice(2);
const [m, n, k] = (shapeArg ?? "4096,4096,7168").split(",").map(Number) as [number, number, number];
const overrideIndex = rest.indexOf("--config");
const override = overrideIndex >= 0 ? (JSON.parse(rest[overrideIndex + 1] ?? "{}") as Partial<KernelConfig>) : {};
const launches = 3;

const device = Device.get(0);
using stream = Stream.create(device);
const p: GemmProblem = { gemmType: "dense", m, n, k, numGroups: 1, outDtype: "bf16", accumulate: false };
const config: KernelConfig = { ...selectConfig(p, deviceLimits(device)), ...override };
console.log(`profile ${m}x${n}x${k}: ${JSON.stringify(config)}`);

using inputs = uploadDenseInputs(device, makeDenseHostInputs(m, n, k));
const { a, b, d } = inputs;
const plan = new GemmPlan(device, p, config);
for (let i = 0; i < launches; i++) plan.run(inputs, stream);
stream.synchronize();

using lt = CublasLt.open(device);
const planned = planCublasLtFp8(lt, m, n, k, { scaling: "unit" });
if (planned.ok) {
  using ltPlan = planned.plan;
  for (let i = 0; i < launches; i++) ltPlan.run(a, b, d, undefined, undefined, stream);
  stream.synchronize();
} else {
  console.log(`cuBLASLt: ${planned.reason}`);
}
console.log("profile: done");
