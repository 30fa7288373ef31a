import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync, mkdirSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelCache, type CacheKeyParts } from "../../src/jit/cache.ts";
import type { CompileRequest, CompileResult, Compiler } from "../../src/jit/compiler.ts";
import { commonOptions } from "../../src/jit/compiler.ts";
import { cacheKeyParts, cachedCubin, jitStats, resetJitStats } from "../../src/jit/jit.ts";
import { payload } from "./fixtures/cacheWorker.ts";

const root = mkdtempSync(join(tmpdir(), "bungemm-cache-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;
const freshDir = (): string => join(root, `c${serial++}`);

const baseParts: CacheKeyParts = {
  source: 'extern "C" __global__ void k() {}',
  includeFiles: [{ path: "0:bungemm/a.cuh", bytes: new Uint8Array([1, 2, 3]) }],
  options: ["-std=c++17"],
  backend: "nvcc",
  compilerVersion: "13.0.88",
  arch: "sm_90a",
};

/** A compiler that returns a cubin made from the source and counts its calls (no nvcc needed). */
function fakeCompiler(): Compiler & { calls: number } {
  return {
    backend: "nvcc",
    calls: 0,
    version: () => "fake-1",
    options: (req: CompileRequest) => ["-fake", ...commonOptions(req)],
    compile(req: CompileRequest): CompileResult {
      this.calls++;
      return { cubin: new TextEncoder().encode(`cubin of ${req.source}`), log: "", ms: 1 };
    },
  };
}

describe("KernelCache", () => {
  test("miss, then put, then hit with the same bytes", () => {
    const cache = new KernelCache(freshDir());
    const key = cache.key(baseParts);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cache.lookup(key)).toEqual({ status: "missing" });
    const cubin = payload(1000);
    cache.put(key, cubin);
    expect(cache.get(key)).toEqual(cubin);
    // No temp files are left behind.
    expect(readdirSync(cache.dir)).toEqual([`${key}.cubin`]);
  });

  test("the key changes with every input, and not with the order of include files", () => {
    const cache = new KernelCache(freshDir());
    const key = cache.key(baseParts);
    const variants: Partial<CacheKeyParts>[] = [
      { source: `${baseParts.source} ` },
      { includeFiles: [{ path: "0:bungemm/a.cuh", bytes: new Uint8Array([1, 2, 4]) }] },
      { includeFiles: [{ path: "0:bungemm/b.cuh", bytes: new Uint8Array([1, 2, 3]) }] },
      { includeFiles: [...baseParts.includeFiles, { path: "0:bungemm/new.cuh", bytes: new Uint8Array() }] },
      { options: ["-std=c++17", "-lineinfo"] },
      { backend: "nvrtc" },
      { compilerVersion: "13.0.89" },
      { arch: "sm_100a" },
    ];
    const keys = variants.map((change) => cache.key({ ...baseParts, ...change }));
    expect(new Set([key, ...keys]).size).toBe(variants.length + 1);
    const two = [...baseParts.includeFiles, { path: "0:bungemm/z.cuh", bytes: new Uint8Array([9]) }];
    expect(cache.key({ ...baseParts, includeFiles: two })).toBe(cache.key({ ...baseParts, includeFiles: [...two].reverse() }));
  });

  test("a flipped payload byte is detected, the entry deleted, and a new put works", () => {
    const cache = new KernelCache(freshDir());
    const key = cache.key(baseParts);
    cache.put(key, payload(4096));
    const file = readFileSync(cache.entryPath(key));
    file[file.length - 10] = (file[file.length - 10] ?? 0) ^ 0x40;
    writeFileSync(cache.entryPath(key), file);
    expect(cache.lookup(key)).toEqual({ status: "corrupt", reason: "payload sha256 mismatch" });
    expect(readdirSync(cache.dir)).toEqual([]);
    cache.put(key, payload(4096));
    expect(cache.get(key)).toEqual(payload(4096));
  });

  test("truncated entries (mid-payload, mid-header, empty) are detected and deleted", () => {
    const cache = new KernelCache(freshDir());
    const key = cache.key(baseParts);
    for (const length of [56 + 100, 20, 0]) {
      cache.put(key, payload(4096));
      truncateSync(cache.entryPath(key), length);
      const found = cache.lookup(key);
      expect(found.status).toBe("corrupt");
      expect(cache.lookup(key).status).toBe("missing");
    }
  });

  test("put removes temp files of writers that died long ago, not ones that may be in progress", () => {
    const cache = new KernelCache(freshDir());
    mkdirSync(cache.dir, { recursive: true });
    const stale = join(cache.dir, `.${"a".repeat(64)}.123.00ff.tmp`);
    const fresh = join(cache.dir, `.${"b".repeat(64)}.456.00ff.tmp`);
    writeFileSync(stale, "partial");
    writeFileSync(fresh, "partial");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    const key = cache.key(baseParts);
    cache.put(key, payload(10));
    expect(readdirSync(cache.dir).sort()).toEqual([`${key}.cubin`, fresh.slice(cache.dir.length + 1)].sort());
  });

  test("refuses keys that are not sha256 hex (no path tricks)", () => {
    const cache = new KernelCache(freshDir());
    expect(() => cache.put("../../etc/passwd", payload(1))).toThrow(/64 lowercase hex/);
  });

  test("processes filling one entry at once never expose a partial entry", async () => {
    const dir = freshDir();
    const cache = new KernelCache(dir);
    const key = cache.key(baseParts);
    const bytes = 256 << 10; // about a cubin's size; small enough for thousands of rewrites in the window
    const worker = join(import.meta.dir, "fixtures", "cacheWorker.ts");
    // Start together once every child is up, then race for a fixed window.
    const startAt = Date.now() + 1500;
    const stopAt = startAt + 1500;
    const spawn = (mode: string) =>
      Bun.spawn([process.execPath, worker, mode, dir, key, String(bytes), String(startAt), String(stopAt)], { stdout: "pipe", stderr: "inherit" });
    const children = [spawn("write"), spawn("write"), spawn("write"), spawn("read"), spawn("read")];
    const results = await Promise.all(
      children.map(async (child) => {
        const text = await new Response(child.stdout).text();
        expect(await child.exited).toBe(0);
        return JSON.parse(text) as { writes: number; hit: number; missing: number; corrupt: number; wrongBytes: number };
      }),
    );
    // The race really happened: every writer wrote many times, readers saw entries.
    for (const counts of results.slice(0, 3)) expect(counts.writes).toBeGreaterThan(20);
    for (const counts of results.slice(3)) expect(counts.hit).toBeGreaterThan(20);
    for (const counts of results) {
      expect(counts.corrupt).toBe(0);
      expect(counts.wrongBytes).toBe(0);
    }
    expect(cache.get(key)).toEqual(payload(bytes));
    expect(readdirSync(dir)).toEqual([`${key}.cubin`]);
  }, 60_000);
});

describe("cachedCubin (the JIT's disk path, with a fake compiler)", () => {
  const request = (includeDir: string): CompileRequest => ({
    source: 'extern "C" __global__ void k() {}',
    kernelName: "k",
    arch: "sm_90a",
    includeDirs: [includeDir],
  });
  const includeTree = (): string => {
    const dir = join(freshDir(), "cuda");
    mkdirSync(join(dir, "bungemm"), { recursive: true });
    writeFileSync(join(dir, "bungemm", "a.cuh"), "#pragma once\n");
    return dir;
  };

  test("compiles once, then hits; a corrupt entry is recompiled", () => {
    resetJitStats();
    const compiler = fakeCompiler();
    const cache = new KernelCache(freshDir());
    const req = request(includeTree());
    expect(cachedCubin(compiler, req, cache).from).toBe("compiler");
    const hit = cachedCubin(compiler, req, cache);
    expect(hit.from).toBe("cache");
    expect(new TextDecoder().decode(hit.cubin)).toBe(`cubin of ${req.source}`);
    const key = cache.key(cacheKeyParts(compiler, req));
    truncateSync(cache.entryPath(key), 60);
    expect(cachedCubin(compiler, req, cache).from).toBe("compiler");
    expect(compiler.calls).toBe(2);
    expect(jitStats()).toMatchObject({ diskHits: 1, misses: 2, corruptEntries: 1, lastCompileMs: 1 });
  });

  test("editing or adding a header under the include folder changes the key; moving the folder does not", () => {
    const compiler = fakeCompiler();
    const dir = includeTree();
    const key = () => new KernelCache(root).key(cacheKeyParts(compiler, request(dir)));
    const before = key();
    const moved = join(freshDir(), "elsewhere");
    cpSync(dir, moved, { recursive: true });
    expect(new KernelCache(root).key(cacheKeyParts(compiler, request(moved)))).toBe(before);
    writeFileSync(join(dir, "bungemm", "a.cuh"), "#pragma once\n// edited\n");
    const edited = key();
    expect(edited).not.toBe(before);
    writeFileSync(join(dir, "bungemm", "b.cuh"), "");
    expect(key()).not.toBe(edited);
  });

  test("an option change changes the key", () => {
    const compiler = fakeCompiler();
    const req = request(includeTree());
    const cache = new KernelCache(root);
    expect(cache.key(cacheKeyParts(compiler, { ...req, extraOptions: ["-lineinfo"] }))).not.toBe(cache.key(cacheKeyParts(compiler, req)));
    expect(cache.key(cacheKeyParts(compiler, { ...req, defines: { X: 1 } }))).not.toBe(cache.key(cacheKeyParts(compiler, req)));
  });
});
