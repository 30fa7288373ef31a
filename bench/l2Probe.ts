/**
 * What the L2 state the benchmark's flush leaves behind costs a memory-bound launch. Not part of
 * `bun run bench`; nothing is written to bench/results/.
 *
 *   bun bench/l2Probe.ts [--rounds N]
 *
 * The benchmark flushes L2 by writing 512 MiB (DESIGN §6), which leaves the cache full of dirty
 * lines: every line a timed kernel allocates may first have to write one of them back to DRAM. Here
 * each transfer is timed twice in alternation — after that flush alone ("method"), and after the
 * same flush followed by an untimed read of another 512 MiB, which leaves L2 holding clean lines
 * ("clean") — so the difference is what the dirty lines cost. Rows: the per-token casts of the
 * quant suite, plain device-to-device copies of the same bytes and of 2 GiB, and the bf16 cast's own
 * traffic without its arithmetic (2 bytes read and 1 written per element: what the cast's mix of reads
 * and writes costs at best), grid-stride and one-shot, and the bf16 cast built with RN(x * (1 / scale))
 * in place of the exact quotient (what the policy's correctly rounded division costs; its codes differ
 * from the reference's where the quotient lies within an ulp of an e4m3 rounding midpoint).
 */
import { parseArgs } from "node:util";
import { getKernel } from "../src/jit/jit.ts";
import { KernelArgs } from "../src/runtime/kernelArgs.ts";
import { launchKernel } from "../src/runtime/launch.ts";
import { Device } from "../src/runtime/device.ts";
import { DeviceBuffer, copyDeviceToDevice, memsetD32 } from "../src/runtime/memory.ts";
import { Stream } from "../src/runtime/stream.ts";
import { Tensor } from "../src/tensor/tensor.ts";
import { planQuantizePerToken, type QuantInputDType } from "../src/quant/quantize.ts";
import { QUANT_KERNELS, perTokenGrid, quantKernelSource } from "../src/quant/kernels.ts";
import { alignedM, QUANT_BLOCK } from "../src/quant/layout.ts";
import { COPY_BYTES } from "./copyBandwidth.ts";
import { gbps, median } from "./metrics.ts";
import { quantBytes, randomInput } from "./quant.ts";
import { KernelTimer, L2_FLUSH_BYTES } from "./timing.ts";

const READ_SWEEP = "bungemm_probe_read_sweep";
// Every 16-byte word once, through L2 (ld.global.cg); the XOR keeps the loads live and the
// comparison with a constant the buffer never produces keeps the store from being taken.
const READ_SWEEP_SOURCE = `extern "C" __global__ void ${READ_SWEEP}(const uint4* p, unsigned long long words, unsigned int* sink) {
  unsigned int acc = 0;
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += stride) {
    const uint4 v = __ldcg(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;
}
`;

const TRUNCATE = "bungemm_probe_truncate";
// Each bf16's high byte: the cast's 32 bytes in and 16 out per lane with no arithmetic. A stride
// loop, so the same kernel runs grid-stride or, with one thread per word, as the cast's grid does.
const TRUNCATE_SOURCE = `extern "C" __global__ void ${TRUNCATE}(const uint4* in, uint4* out, unsigned long long words) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += stride) {
    const uint4 a = __ldcs(in + 2 * i), b = __ldcs(in + 2 * i + 1);
    uint4 r;
    r.x = __byte_perm(a.x, a.y, 0x7531);
    r.y = __byte_perm(a.z, a.w, 0x7531);
    r.z = __byte_perm(b.x, b.y, 0x7531);
    r.w = __byte_perm(b.z, b.w, 0x7531);
    __stcs(out + i, r);
  }
}
`;

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
const device = Device.get(0);
using stream = Stream.create(device);

using cleanSource = DeviceBuffer.alloc(device, L2_FLUSH_BYTES);
using sink = DeviceBuffer.alloc(device, 256);
memsetD32(cleanSource, 0x01020304, stream);
/** Arguments of a probe kernel whose parameters are all 64-bit (pointers and counts), in order. */
function u64Args(values: Record<string, bigint | number>): KernelArgs {
  const args = new KernelArgs(Object.keys(values).map((name) => ({ name, kind: "u64" as const })));
  for (const [name, value] of Object.entries(values)) args.set(name, value);
  return args;
}

/** A 1-D launch of 256-thread CTAs on the probe's stream. */
const launchOf = (ctas: number) => ({ grid: [ctas, 1, 1] as [number, number, number], block: [256, 1, 1] as [number, number, number], sharedBytes: 0, stream });

const sweep = getKernel(device, { name: READ_SWEEP, source: READ_SWEEP_SOURCE });
const sweepArgs = u64Args({ p: cleanSource.ptr, words: L2_FLUSH_BYTES / 16, sink: sink.ptr });
const sweepLaunch = launchOf(device.smCount * 8);

using method = KernelTimer.create(device, stream);
using clean = KernelTimer.create(device, stream, { afterFlush: () => launchKernel(sweep, sweepLaunch, sweepArgs) });

interface Row {
  label: string;
  bytes: number;
  run: () => void;
  dispose: () => void;
}

// The library's quantization unit with quotient_rn reduced to its first product (cuda/bungemm/quant.cuh).
const PRODUCT_SOURCE = `#define BUNGEMM_PROBE_QUOTIENT_BY_PRODUCT 1\n${quantKernelSource()}`;

/**
 * The per-token cast of [m, k] through its plan, or (`product`) the same entry built from
 * PRODUCT_SOURCE and launched on the plan's grid with the plan's arguments.
 */
function castRow(m: number, k: number, dtype: QuantInputDType, product = false): Row {
  const dims = [m, k];
  const plan = planQuantizePerToken(dims, dtype);
  const x = Tensor.fromHost(device, randomInput(m * k, dtype), dims, dtype);
  const out = plan.allocateOutputs(device);
  let run = () => plan.runInto(x, out, stream);
  if (product) {
    const spec = QUANT_KERNELS[dtype === "bf16" ? "perTokenBf16" : "perTokenF32"];
    const fn = getKernel(device, { name: spec.entry, source: PRODUCT_SOURCE });
    const args = new KernelArgs(spec.fields);
    const values = { x: x.ptr, out: out.data.ptr, scales: out.scales.ptr, rows: m, k, numGroups: 1, xRowStride: k };
    for (const [name, value] of Object.entries(values)) args.set(name, value);
    const launch = launchOf(perTokenGrid(1, alignedM(m), Math.ceil(k / QUANT_BLOCK)));
    run = () => launchKernel(fn, launch, args);
  }
  return {
    label: `per-token ${dtype} [${m}, ${k}]${product ? ", quotient by one product (probe, the same grid)" : ""}`,
    bytes: quantBytes({ kind: "quant-token", rows: m, k, dtype }),
    run,
    dispose: () => {
      x.dispose();
      out.data.dispose();
      out.scales.dispose();
    },
  };
}

function copyRow(label: string, bytesEachWay: number): Row {
  const src = DeviceBuffer.alloc(device, bytesEachWay);
  const dst = DeviceBuffer.alloc(device, bytesEachWay);
  memsetD32(src, 0x3c003c00, stream);
  return {
    label,
    bytes: 2 * bytesEachWay,
    run: () => copyDeviceToDevice(dst, src, bytesEachWay, stream),
    dispose: () => {
      src.dispose();
      dst.dispose();
    },
  };
}

function truncateRow(m: number, k: number, gridStride: boolean): Row {
  const words = (m * k) / 16;
  const src = DeviceBuffer.alloc(device, m * k * 2);
  const dst = DeviceBuffer.alloc(device, m * k);
  memsetD32(src, 0x3c003c00, stream);
  const fn = getKernel(device, { name: TRUNCATE, source: TRUNCATE_SOURCE });
  const args = u64Args({ in: src.ptr, out: dst.ptr, words });
  const launch = launchOf(gridStride ? device.smCount * 8 : Math.ceil(words / 256));
  return {
    label: `bf16 high bytes [${m}, ${k}], ${gridStride ? "grid-stride" : "one word per thread"} (the cast's traffic, no arithmetic)`,
    bytes: m * k * 3,
    run: () => launchKernel(fn, launch, args),
    dispose: () => {
      src.dispose();
      dst.dispose();
    },
  };
}

const castBytes = quantBytes({ kind: "quant-token", rows: 4096, k: 7168, dtype: "bf16" });
const rows: Row[] = [
  castRow(4096, 7168, "bf16"),
  castRow(4096, 7168, "bf16", true),
  copyRow(`copy of the same bytes (${(castBytes / 2 / 1e6).toFixed(0)} MB each way)`, Math.round(castBytes / 2) & ~255),
  truncateRow(4096, 7168, false),
  truncateRow(4096, 7168, true),
  castRow(4096, 16384, "bf16"),
  castRow(4096, 7168, "f32"),
  copyRow("copy of 2 GiB each way", COPY_BYTES),
];
stream.synchronize();
console.log(`l2Probe: ${device.name}, ${device.smCount} SMs; ${rounds} rounds, method then clean in each`);

const samples = rows.map(() => ({ method: [] as number[], clean: [] as number[] }));
for (let r = 0; r < rounds; r++) {
  rows.forEach((row, i) => {
    samples[i]!.method.push(method.time(row.run).medianUs);
    samples[i]!.clean.push(clean.time(row.run).medianUs);
  });
}
const copyMethodUs = median(samples[rows.length - 1]!.method);
const copyTBs = gbps(COPY_BYTES * 2, copyMethodUs) / 1000;
console.log(`2 GiB copy after the method's flush: ${copyTBs.toFixed(2)} TB/s (the bench's copy figure)`);
rows.forEach((row, i) => {
  const describe = (us: number[]): string => {
    const mid = median(us);
    const rate = gbps(row.bytes, mid);
    return `${mid.toFixed(1)} us (${us.map((u) => u.toFixed(1)).join(", ")}), ${rate.toFixed(0)} GB/s, ${((100 * rate) / (copyTBs * 1000)).toFixed(1)}% of copy`;
  };
  console.log(`${row.label}: method ${describe(samples[i]!.method)} | clean ${describe(samples[i]!.clean)}`);
  row.dispose();
});
