/**
 * Library discovery and driver errors, on a machine without libcuda: the binding must import
 * cleanly and fail at first use with an error that says what was tried and what to set.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { CudaError, LibraryNotFoundError } from "../../src/errors.ts";
import { checkCuda, driver, libcudaSpec, loadedDriver } from "../../src/ffi/cuda.ts";
import { openLibrary, resolveLibrary, type LibrarySpec } from "../../src/ffi/library.ts";
import { hasCudaDevice } from "../../src/runtime/device.ts";

const spec = (over: Partial<LibrarySpec> = {}): LibrarySpec => ({
  label: "libfoo",
  envVar: "BUNGEMM_LIBFOO",
  override: undefined,
  sonames: ["libfoo.so.2", "libfoo.so"],
  cudaSubdirs: ["lib64"],
  cudaHome: "/opt/my-cuda",
  ...over,
});

const savedLibcuda = process.env.BUNGEMM_LIBCUDA;
afterEach(() => {
  if (savedLibcuda === undefined) delete process.env.BUNGEMM_LIBCUDA;
  else process.env.BUNGEMM_LIBCUDA = savedLibcuda;
});

describe("resolveLibrary", () => {
  test("bare sonames for the loader first, then $CUDA_HOME, /usr/local/cuda, system folders", () => {
    const c = resolveLibrary(spec());
    expect(c.slice(0, 4)).toEqual(["libfoo.so.2", "libfoo.so", "/opt/my-cuda/lib64/libfoo.so.2", "/opt/my-cuda/lib64/libfoo.so"]);
    expect(c).toContain("/usr/lib/x86_64-linux-gnu/libfoo.so.2");
    expect(c).toContain("/usr/lib64/libfoo.so.2");
    const cudaIndex = c.findIndex((p) => p.startsWith("/usr/local/cuda"));
    expect(cudaIndex).toBeGreaterThan(3);
    expect(cudaIndex).toBeLessThan(c.indexOf("/usr/lib/x86_64-linux-gnu/libfoo.so.2"));
    expect(new Set(c).size).toBe(c.length);
  });

  test("an override is the only candidate", () => {
    expect(resolveLibrary(spec({ override: "/x/libfoo.so.2" }))).toEqual(["/x/libfoo.so.2"]);
  });
});

describe("openLibrary", () => {
  test("override pointing at a missing file: LibraryNotFoundError naming the path and the variable", () => {
    let error: unknown;
    try {
      openLibrary(spec({ override: "/nonexistent/libfoo.so.2" }), { foo: { args: [], returns: "i32" } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LibraryNotFoundError);
    const e = error as LibraryNotFoundError;
    expect(e.tried).toEqual(["/nonexistent/libfoo.so.2 (no such file)"]);
    expect(e.message).toContain("BUNGEMM_LIBFOO=/nonexistent/libfoo.so.2 did not load");
  });

  test("nothing found: every candidate listed with its reason, and the hint names the variable", () => {
    const e = (() => {
      try {
        openLibrary(spec(), { foo: { args: [], returns: "i32" } });
      } catch (error) {
        return error as LibraryNotFoundError;
      }
      throw new Error("expected a failure");
    })();
    expect(e.tried.length).toBe(resolveLibrary(spec()).length);
    expect(e.tried[0]).toMatch(/^libfoo\.so\.2 \(not found by the dynamic loader/);
    expect(e.message).toContain("Set BUNGEMM_LIBFOO to the full path of libfoo.so.2");
  });

  test("a library that loads but lacks a symbol is reported, not silently skipped", () => {
    expect(() => openLibrary(spec({ sonames: ["libc.so.6"], cudaSubdirs: [] }), { no_such_symbol_xyz: { args: [], returns: "i32" } })).toThrow(
      /libc\.so\.6 \(.*no_such_symbol_xyz/,
    );
  });
});

describe.skipIf(hasCudaDevice().ok)("libcuda absent (this machine)", () => {
  // (That importing the library loads nothing is checked in a fresh process: public-index.test.ts.)
  test("a failed load leaves no driver behind; driver() fails at each use, naming BUNGEMM_LIBCUDA", () => {
    expect(loadedDriver()).toBeUndefined();
    const saved = process.env.BUNGEMM_LIBCUDA;
    process.env.BUNGEMM_LIBCUDA = "/nonexistent/libcuda.so.1";
    try {
      expect(libcudaSpec().override).toBe("/nonexistent/libcuda.so.1");
      expect(() => driver()).toThrow(LibraryNotFoundError);
      expect(() => driver()).toThrow(/BUNGEMM_LIBCUDA/);
      expect(loadedDriver()).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.BUNGEMM_LIBCUDA;
      else process.env.BUNGEMM_LIBCUDA = saved;
    }
  });

  test("hasCudaDevice reports the reason instead of throwing", () => {
    const status = hasCudaDevice();
    expect(status.ok).toBe(false);
    if (!status.ok) expect(status.reason).toContain("libcuda");
  });

  test("CudaError carries call, code and names; the message reads call failed: NAME (code): description", () => {
    expect(() => checkCuda("cuInit", 0)).not.toThrow();
    let error: unknown;
    try {
      checkCuda("cuMemAlloc_v2", 2);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CudaError);
    const e = error as CudaError;
    expect([e.call, e.code, e.codeName]).toEqual(["cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY"]);
    expect(e.message).toMatch(/^cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY \(2\): /);
    expect(() => checkCuda("cuFoo", 12345)).toThrow(/cuFoo failed: CUDA_ERROR_UNRECOGNIZED \(12345\)/);
  });
});
