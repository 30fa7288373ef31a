/**
 * Pins the struct layouts and enum values bungemm writes for the driver to cuda.h itself: a C
 * program compiled against the installed header prints offsetof/sizeof and every constant.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ptr } from "bun:ffi";
import { ALL_CUDA_CONSTANTS, LaunchAttributeId } from "../../src/ffi/cudaConstants.ts";
import {
  allocTensorMapStorage,
  LAUNCH_ATTRIBUTE,
  LAUNCH_CONFIG,
  packLaunchAttributeClusterDim,
  packLaunchConfig,
  TENSOR_MAP_BYTES,
} from "../../src/ffi/structs.ts";

const CUDA_INCLUDE = "/usr/local/cuda/include";
const compiler = Bun.which("gcc") ?? Bun.which("cc");
const haveHeader = Bun.file(join(CUDA_INCLUDE, "cuda.h")).size > 0;
const skipReason = !compiler ? "no C compiler" : !haveHeader ? `no ${CUDA_INCLUDE}/cuda.h` : undefined;
if (skipReason) console.warn(`skipping cuda.h layout pins: ${skipReason}`);

/** Compiles and runs a C program printing `name value` lines; returns them as a map. */
function fromCudaH(): Map<string, number> {
  const lines: string[] = [];
  const emit = (name: string, expr: string) => lines.push(`  printf("%s %lld\\n", "${name}", (long long)(${expr}));`);
  for (const field of Object.keys(LAUNCH_CONFIG)) {
    emit(`LAUNCH_CONFIG.${field}`, field === "size" ? "sizeof(CUlaunchConfig)" : `offsetof(CUlaunchConfig, ${field})`);
  }
  emit("LAUNCH_ATTRIBUTE.size", "sizeof(CUlaunchAttribute)");
  emit("LAUNCH_ATTRIBUTE.id", "offsetof(CUlaunchAttribute, id)");
  emit("LAUNCH_ATTRIBUTE.value", "offsetof(CUlaunchAttribute, value)");
  emit("LAUNCH_ATTRIBUTE.clusterDimX", "offsetof(CUlaunchAttribute, value.clusterDim.x)");
  emit("LAUNCH_ATTRIBUTE.clusterDimY", "offsetof(CUlaunchAttribute, value.clusterDim.y)");
  emit("LAUNCH_ATTRIBUTE.clusterDimZ", "offsetof(CUlaunchAttribute, value.clusterDim.z)");
  emit("TENSOR_MAP_BYTES", "sizeof(CUtensorMap)");
  for (const table of Object.values(ALL_CUDA_CONSTANTS)) for (const name of Object.keys(table)) emit(name, name);
  const dir = mkdtempSync(join(tmpdir(), "bungemm-cudah-"));
  const source = join(dir, "layout.c");
  writeFileSync(source, `#include <stdio.h>\n#include <stddef.h>\n#include <cuda.h>\nint main(void) {\n${lines.join("\n")}\n  return 0;\n}\n`);
  const exe = join(dir, "layout");
  const build = Bun.spawnSync([compiler as string, "-std=c11", `-I${CUDA_INCLUDE}`, source, "-o", exe]);
  if (build.exitCode !== 0) throw new Error(`compiling the layout probe failed:\n${build.stderr.toString()}`);
  const run = Bun.spawnSync([exe]);
  const values = new Map<string, number>();
  for (const line of run.stdout.toString().trim().split("\n")) {
    const [name, value] = line.split(" ");
    values.set(name as string, Number(value));
  }
  return values;
}

describe.skipIf(skipReason !== undefined)("pinned to cuda.h", () => {
  const values = skipReason ? new Map<string, number>() : fromCudaH();

  test("CUlaunchConfig offsets and size", () => {
    for (const [field, offset] of Object.entries(LAUNCH_CONFIG)) expect([field, values.get(`LAUNCH_CONFIG.${field}`)]).toEqual([field, offset]);
  });

  test("CUlaunchAttribute offsets (cluster dims) and size", () => {
    for (const [field, offset] of Object.entries(LAUNCH_ATTRIBUTE)) expect([field, values.get(`LAUNCH_ATTRIBUTE.${field}`)]).toEqual([field, offset]);
  });

  test("CUtensorMap is 128 bytes", () => {
    expect(values.get("TENSOR_MAP_BYTES")).toBe(TENSOR_MAP_BYTES);
  });

  test("every enum constant in cudaConstants.ts matches cuda.h", () => {
    const mismatches: string[] = [];
    for (const table of Object.values(ALL_CUDA_CONSTANTS)) {
      for (const [name, value] of Object.entries(table)) if (values.get(name) !== value) mismatches.push(`${name}: ts ${value}, cuda.h ${values.get(name)}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("packers", () => {
  test("packLaunchConfig writes each field at its offset, little-endian, padding zeroed", () => {
    const out = new Uint8Array(LAUNCH_CONFIG.size).fill(0xff);
    packLaunchConfig({ grid: [132, 2, 3], block: [384, 1, 1], sharedBytes: 200_000, stream: 0x1234_5678_9abcn, attrs: 0xdead_beefn, numAttrs: 1 }, out);
    const view = new DataView(out.buffer);
    expect([0, 4, 8, 12, 16, 20, 24].map((o) => view.getUint32(o, true))).toEqual([132, 2, 3, 384, 1, 1, 200_000]);
    expect(view.getUint32(28, true)).toBe(0);
    expect(view.getBigUint64(LAUNCH_CONFIG.hStream, true)).toBe(0x1234_5678_9abcn);
    expect(view.getBigUint64(LAUNCH_CONFIG.attrs, true)).toBe(0xdead_beefn);
    expect(view.getBigUint64(LAUNCH_CONFIG.numAttrs, true)).toBe(1n);
  });

  test("packLaunchAttributeClusterDim zeroes the union and sets id + dims", () => {
    const out = packLaunchAttributeClusterDim([2, 1, 1], new Uint8Array(LAUNCH_ATTRIBUTE.size).fill(0xee));
    const view = new DataView(out.buffer);
    expect(view.getUint32(LAUNCH_ATTRIBUTE.id, true)).toBe(LaunchAttributeId.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION);
    expect([8, 12, 16].map((o) => view.getUint32(o, true))).toEqual([2, 1, 1]);
    expect([...out.subarray(20)].every((b) => b === 0)).toBe(true);
    expect(view.getUint32(4, true)).toBe(0);
  });

  test("allocTensorMapStorage is 128 bytes at a 64-byte aligned address", () => {
    for (let i = 0; i < 8; i++) {
      const storage = allocTensorMapStorage();
      expect(storage.byteLength).toBe(128);
      expect(ptr(storage) % 64).toBe(0);
    }
  });
});
