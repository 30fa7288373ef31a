import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSettings } from "../../src/env.ts";
import { CompileError, LibraryNotFoundError } from "../../src/errors.ts";
import { nvrtc } from "../../src/ffi/nvrtc.ts";
import type { CompileRequest, Compiler } from "../../src/jit/compiler.ts";
import { compileOnly, kernelRequest } from "../../src/jit/jit.ts";
import { NvccCompiler } from "../../src/jit/nvccCompiler.ts";
import { NvrtcCompiler } from "../../src/jit/nvrtcCompiler.ts";
import { cudaDir } from "../../src/jit/paths.ts";
import { nvccPath } from "../support/compilers.ts";
import { selectCompiler } from "../../src/jit/selectCompiler.ts";

const EM_CUDA = 190; // ELF e_machine of NVIDIA cubins

function nvrtcLoads(): boolean {
  try {
    nvrtc();
    return true;
  } catch (error) {
    if (error instanceof LibraryNotFoundError) return false;
    throw error;
  }
}

/** Runs `fn` with environment variables temporarily set (undefined: removed). */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

const nvcc = nvccPath();
const includeDir = mkdtempSync(join(tmpdir(), "bungemm-include-"));
afterAll(() => rmSync(includeDir, { recursive: true, force: true }));
writeFileSync(join(includeDir, "scale.cuh"), "#pragma once\n__device__ inline float scale(float x) { return x * SCALE; }\n");

// No host headers, extern "C" entry, a header found through -I and a macro through -D.
const kernelSource = `#include "scale.cuh"
extern "C" __global__ void scale_kernel(float* out, const float* in, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = scale(in[i]);
}
`;

describe.skipIf(nvcc === undefined)("NvccCompiler (sm_90a, no GPU needed)", () => {
  const compiler = new NvccCompiler(nvcc ?? "");

  test("compiles a small kernel into an sm_90a cubin with ptxas resource usage", () => {
    const result = compiler.compile({
      source: kernelSource,
      kernelName: "scale_kernel",
      arch: "sm_90a",
      includeDirs: [includeDir],
      defines: { SCALE: "2.0f" },
    });
    expect([...result.cubin.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    expect(new DataView(result.cubin.buffer, result.cubin.byteOffset).getUint16(18, true)).toBe(EM_CUDA);
    expect(result.log).toContain("Compiling entry function 'scale_kernel' for 'sm_90a'");
    const entry = result.resources?.find((fn) => fn.name === "scale_kernel");
    expect(entry?.entry).toBe(true);
    expect(entry?.registers).toBeGreaterThan(0);
    expect(entry?.spillStores).toBe(0);
    expect(compiler.version()).toMatch(/^\d+\.\d+\.\d+$/);
  }, 30_000);

  test("BUNGEMM_LINEINFO: the JIT's request carries -lineinfo, and the cubin then has the line table", () => {
    const kernel = { source: kernelSource, name: "scale_kernel" };
    const hasLineTable = (cubin: Uint8Array): boolean => new TextDecoder("latin1").decode(cubin).includes(".nv_debug_line_sass");
    const plain = kernelRequest(kernel, "sm_90a", readSettings({}));
    const withLines = kernelRequest(kernel, "sm_90a", readSettings({ BUNGEMM_LINEINFO: "1" }));
    expect(plain.extraOptions).toEqual([]);
    expect(withLines.extraOptions).toEqual(["-lineinfo"]);
    const compile = (req: CompileRequest) =>
      compiler.compile({ ...req, includeDirs: [...req.includeDirs, includeDir], defines: { SCALE: "2.0f" } }).cubin;
    expect(hasLineTable(compile(plain))).toBe(false);
    expect(hasLineTable(compile(withLines))).toBe(true);
  }, 60_000);

  test("a broken source gives CompileError carrying nvcc's log", () => {
    const broken = 'extern "C" __global__ void broken(float* out) { out[0] = undefined_name; }';
    let caught: unknown;
    try {
      compiler.compile({ source: broken, kernelName: "broken", arch: "sm_90a", includeDirs: [] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CompileError);
    const error = caught as CompileError;
    expect(error.backend).toBe("nvcc");
    expect(error.kernelName).toBe("broken");
    expect(error.log).toContain("undefined_name");
    expect(error.message).toContain("undefined_name");
  }, 30_000);

  test("compileOnly puts the package's cuda/ first on the include path and needs no device", () => {
    const requests: CompileRequest[] = [];
    const spy: Compiler = {
      backend: "nvcc",
      version: () => compiler.version(),
      options: (req) => compiler.options(req),
      compile: (req) => (requests.push(req), compiler.compile(req)),
    };
    const result = compileOnly('extern "C" __global__ void empty_kernel() {}', "empty_kernel", spy);
    expect(result.cubin.byteLength).toBeGreaterThan(0);
    expect(requests[0]?.includeDirs[0]).toBe(cudaDir());
    expect(existsSync(join(cudaDir(), "bungemm"))).toBe(true);
    expect(compiler.options({ source: "", kernelName: "k", arch: "sm_90a", includeDirs: ["/x"] })).toEqual([
      "-cubin",
      "-gencode=arch=compute_90a,code=sm_90a",
      "-std=c++17",
      "-I/x",
      "-Xptxas",
      "-v",
    ]);
  }, 30_000);
});

describe("NVRTC discovery", () => {
  test("a missing library is reported at first use, naming the override, not at import", () => {
    // A fresh process: libnvrtc is opened once per process, so where another test (or this machine's
    // GPU tests) already loaded the real one, an override set later would not be consulted.
    const script = `
      const { NvrtcCompiler } = await import(${JSON.stringify(join(import.meta.dir, "../../src/jit/nvrtcCompiler.ts"))});
      const { LibraryNotFoundError } = await import(${JSON.stringify(join(import.meta.dir, "../../src/errors.ts"))});
      const compiler = new NvrtcCompiler(); // importing and constructing must not load the library
      try {
        compiler.compile({ source: 'extern "C" __global__ void k() {}', kernelName: "k", arch: "sm_90a", includeDirs: [] });
        console.log("compiled");
      } catch (error) {
        console.log(JSON.stringify({ notFound: error instanceof LibraryNotFoundError, message: String(error.message) }));
      }`;
    const run = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, BUNGEMM_LIBNVRTC: "/nonexistent/libnvrtc.so.13" } });
    const out = JSON.parse(run.stdout.toString().trim()) as { notFound: boolean; message: string };
    expect(out.notFound).toBe(true);
    expect(out.message).toContain("BUNGEMM_LIBNVRTC");
    expect(out.message).toMatch(/nonexistent\/libnvrtc\.so\.13 \(no such file\)/);
  });

  test.skipIf(nvrtcLoads())("without libnvrtc on this machine, the error lists every place tried", () => {
    let caught: unknown;
    try {
      nvrtc();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LibraryNotFoundError);
    const tried = (caught as LibraryNotFoundError).tried;
    expect(tried.some((t) => t.startsWith("libnvrtc.so.13 ("))).toBe(true); // the bare soname, for the loader path
    expect(tried.some((t) => /^\/usr\/local\/cuda[^/]*\/lib64\/libnvrtc\.so\.13 /.test(t))).toBe(true);
    expect((caught as LibraryNotFoundError).hint).toContain("BUNGEMM_LIBNVRTC");
  });

  test("the NVRTC backend's options keep IEEE math and target sm_90a", () => {
    const options = new NvrtcCompiler().options({ source: "", kernelName: "k", arch: "sm_90a", includeDirs: ["/c"] });
    expect(options).toEqual(["--gpu-architecture=sm_90a", "-default-device", "-std=c++17", "-I/c"]);
    expect(options.join(" ")).not.toContain("fast_math");
  });
});

describe("selectCompiler", () => {
  test.skipIf(nvcc === undefined)("auto falls back to nvcc when libnvrtc does not load", () => {
    // A fresh process, for the reason given in the NVRTC discovery test above.
    const script = `
      const { selectCompiler } = await import(${JSON.stringify(join(import.meta.dir, "../../src/jit/selectCompiler.ts"))});
      const { readSettings } = await import(${JSON.stringify(join(import.meta.dir, "../../src/env.ts"))});
      console.log(selectCompiler({ ...readSettings(), compiler: "auto" }).backend);`;
    const run = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, BUNGEMM_LIBNVRTC: "/nonexistent/libnvrtc.so" } });
    expect(run.stdout.toString().trim()).toBe("nvcc");
  });

  test("an explicit backend is honoured; nvrtc is not loaded until used", () => {
    withEnv({ BUNGEMM_LIBNVRTC: "/nonexistent/libnvrtc.so" }, () => {
      expect(selectCompiler({ ...readSettings(), compiler: "nvrtc" }).backend).toBe("nvrtc");
    });
  });
});
