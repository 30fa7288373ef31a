/**
 * The curated public surface: importing it loads no native library (the README's path works on a
 * machine without a GPU until the first call), and every name the README and docs use is exported.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");

describe("src/index.ts", () => {
  test("importing it opens no library", () => {
    const script = `await import(${JSON.stringify(join(root, "src/index.ts"))}); const { loadedDriver } = await import(${JSON.stringify(join(root, "src/ffi/cuda.ts"))}); const { loadedNvrtcPath } = await import(${JSON.stringify(join(root, "src/ffi/nvrtc.ts"))}); console.log(JSON.stringify({ cuda: loadedDriver() !== undefined, nvrtc: loadedNvrtcPath() !== undefined }));`;
    const run = Bun.spawnSync([process.execPath, "-e", script]);
    expect(run.stderr.toString()).toBe("");
    expect(JSON.parse(run.stdout.toString())).toEqual({ cuda: false, nvrtc: false });
  });

  test("every name imported from \"bungemm\" in the README and docs is exported", async () => {
    const index = (await import("../../src/index.ts")) as Record<string, unknown>;
    const texts = ["README.md", "docs/grouped.md"].map((f) => readFileSync(join(root, f), "utf8"));
    const names = new Set<string>();
    for (const text of texts) {
      for (const match of text.matchAll(/import \{([^}]+)\} from "bungemm"/g)) {
        for (const name of (match[1] ?? "").split(",")) if (name.trim()) names.add(name.trim());
      }
    }
    expect(names.size).toBeGreaterThan(5);
    for (const name of names) expect([name, index[name] !== undefined]).toEqual([name, true]);
  });

  test("every exported error class is a BungemmError, so one catch takes all of the library's failures", async () => {
    const index = (await import("../../src/index.ts")) as Record<string, unknown>;
    const errorClasses = Object.entries(index).filter(([name, value]) => /^[A-Z]\w*Error$/.test(name) && typeof value === "function");
    expect(errorClasses.map(([name]) => name).sort()).toEqual(
      ["BungemmError", "CompileError", "CudaError", "DeviceDataError", "DisposedError", "InvalidArgumentError", "LibraryNotFoundError", "NvrtcError"],
    );
    const base = index.BungemmError as abstract new (...args: never[]) => Error;
    for (const [name, value] of errorClasses) {
      const proto = (value as { prototype: object }).prototype;
      expect([name, proto instanceof base || value === base, proto instanceof Error]).toEqual([name, true, true]);
    }
  });

  test("the layout constants are the kernels' (cuda/): e4m3 max 448, k-block 128, scale block 128", async () => {
    const index = (await import("../../src/index.ts")) as Record<string, unknown>;
    expect({ E4M3_MAX: index.E4M3_MAX, BLOCK_K: index.BLOCK_K, QUANT_BLOCK: index.QUANT_BLOCK }).toEqual({ E4M3_MAX: 448, BLOCK_K: 128, QUANT_BLOCK: 128 });
    const quant = readFileSync(join(root, "cuda/bungemm/quant.cuh"), "utf8");
    const gemm = readFileSync(join(root, "cuda/bungemm/fp8_gemm.cuh"), "utf8");
    expect(quant).toContain(`constexpr float kE4m3Max = ${index.E4M3_MAX}.0f;`);
    expect(quant).toContain(`constexpr uint32_t kBlock = ${index.QUANT_BLOCK};`);
    expect(gemm).toContain(`static constexpr uint32_t kBlockK = ${index.BLOCK_K};`);
  });
});
