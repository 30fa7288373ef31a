/**
 * What `bun add bungemm` gives a user: the tarball `bun pm pack` makes is unpacked into a fresh
 * project's node_modules (zod linked from this checkout, so no registry is needed) and a script
 * there imports "bungemm". It must see the whole public surface, work without a GPU until the first
 * GPU call, keep internal files behind the package's `exports`, JIT-compile kernels from the
 * headers it carries itself (the same bytes as this checkout's cuda/, so the same cache keys), and
 * type-check under the strictest compiler settings a user may have: the package ships TypeScript
 * sources, which `skipLibCheck` does not skip, so their errors would be the user's errors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSettings } from "../../src/env.ts";
import { readIncludeTree } from "../../src/jit/includeTree.ts";
import { locateNvcc } from "../../src/jit/nvccCompiler.ts";

const root = join(import.meta.dir, "../..");
let work = "";
let app = "";
let packed: string[] = [];

function run(command: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd, env: { ...process.env, BUNGEMM_CACHE_DIR: join(work, "cache") } });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Runs `source` as a module of the app (so "bungemm" resolves through its node_modules); parses its JSON. */
function runInApp(name: string, source: string): unknown {
  writeFileSync(join(app, name), source);
  const result = run([process.execPath, name], app);
  if (result.code !== 0) throw new Error(`${name} exited with ${result.code}:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** sha256 of every file under a folder, as the JIT's cache key sees it (path and bytes). */
function treeDigest(dir: string): string {
  const hash = new Bun.CryptoHasher("sha256");
  for (const file of readIncludeTree([dir])) hash.update(file.path).update("\0").update(file.bytes);
  return hash.digest("hex");
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "bungemm-package-"));
  const pack = run([process.execPath, "pm", "pack", "--destination", work, "--ignore-scripts", "--quiet"], root);
  if (pack.code !== 0) throw new Error(`bun pm pack failed:\n${pack.stderr}`);
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (tarball === undefined) throw new Error(`bun pm pack wrote no tarball into ${work}`);
  const list = run(["tar", "-tzf", join(work, tarball)], work);
  packed = list.stdout.split("\n").filter((line) => line !== "").map((line) => line.replace(/^package\//, ""));

  app = join(work, "app");
  const installed = join(app, "node_modules", "bungemm");
  mkdirSync(installed, { recursive: true });
  const untar = run(["tar", "-xzf", join(work, tarball), "-C", installed, "--strip-components=1"], work);
  if (untar.code !== 0) throw new Error(`tar failed:\n${untar.stderr}`);
  symlinkSync(join(root, "node_modules", "zod"), join(app, "node_modules", "zod"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", type: "module", dependencies: { bungemm: "0.1.0" } }));
}, 60_000);

afterAll(() => {
  if (work !== "") rmSync(work, { recursive: true, force: true });
});

describe("the package as `bun add` installs it", () => {
  test("the tarball holds the library, its kernels, README, LICENSE and package.json, and nothing from tests, bench or scripts", () => {
    const tops = new Set(packed.map((path) => (path.includes("/") ? `${path.split("/")[0]}/` : path)));
    expect([...tops].sort()).toEqual(["LICENSE", "README.md", "cuda/", "package.json", "src/"]);
    expect(packed).toContain("src/index.ts");
    expect(packed).toContain("cuda/bungemm/fp8_gemm.cuh");
    // Every header of this checkout travels (the JIT compiles from the installed copy).
    const headers = readIncludeTree([join(root, "cuda")]).map((f) => `cuda/${f.path.replace(/^0:/, "")}`);
    expect(headers.filter((path) => !packed.includes(path))).toEqual([]);
  });

  test("`import … from \"bungemm\"` gives the whole public surface and runs without a GPU", async () => {
    const index = (await import("../../src/index.ts")) as Record<string, unknown>;
    const seen = runInApp(
      "surface.ts",
      `import * as lib from "bungemm";
const x = new Float32Array(256).map((_, i) => (i % 2 === 0 ? 1 : -1) * (i + 1));
const q = lib.quantizePerTokenReference(x, 2, 128);
console.log(JSON.stringify({
  names: Object.keys(lib).sort(),
  e4m3: [lib.encodeE4m3(448), lib.encodeE4m3(-1.5), lib.decodeE4m3(0x7e)],
  bf16: lib.encodeBf16(1),
  scales: Array.from(q.scales),
  firstCodes: Array.from(q.data.slice(0, 2)),
  gpu: typeof lib.hasCudaDevice().ok,
}));`,
    );
    expect(seen).toEqual({
      names: Object.keys(index).sort(),
      e4m3: [0x7e, 0xbc, 448],
      bf16: 0x3f80,
      // amax 128 and 256: scales 128/448 and 256/448 in f32; x = 1 → 1 / (2/7) = 3.5 (code 0x46), x = -2 → -7 (0xce).
      scales: [Math.fround(128 / 448), Math.fround(256 / 448)],
      firstCodes: [0x46, 0xce],
      gpu: "boolean",
    });
  });

  test("internal modules stay behind the package's exports", () => {
    writeFileSync(join(app, "deep.ts"), `await import("bungemm/src/jit/paths.ts");`);
    const result = run([process.execPath, "deep.ts"], app);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("bungemm/src/jit/paths.ts");
  });

  test("the installed JIT compiles from the package's own cuda/, byte for byte this checkout's", () => {
    const installed = join(app, "node_modules", "bungemm");
    let nvcc: string | undefined;
    try {
      nvcc = locateNvcc(readSettings());
    } catch {
      nvcc = undefined;
    }
    const seen = runInApp(
      "jit.ts",
      `import { cudaDir } from ${JSON.stringify(join(installed, "src/jit/paths.ts"))};
import { compileOnly } from ${JSON.stringify(join(installed, "src/jit/jit.ts"))};
import { NvccCompiler } from ${JSON.stringify(join(installed, "src/jit/nvccCompiler.ts"))};
import { quantKernelSource, QUANT_KERNELS } from ${JSON.stringify(join(installed, "src/quant/kernels.ts"))};
const nvcc = ${JSON.stringify(nvcc ?? null)};
let compiled = null;
if (nvcc !== null) {
  const result = compileOnly(quantKernelSource(), QUANT_KERNELS.perTokenBf16.entry, new NvccCompiler(nvcc));
  compiled = { bytes: result.cubin.length > 0, entry: result.log.includes(QUANT_KERNELS.perTokenBf16.entry) };
}
console.log(JSON.stringify({ cudaDir: cudaDir(), compiled }));`,
    ) as { cudaDir: string; compiled: { bytes: boolean; entry: boolean } | null };
    expect(seen.cudaDir).toBe(join(installed, "cuda"));
    expect(treeDigest(seen.cudaDir)).toBe(treeDigest(join(root, "cuda")));
    if (nvcc === undefined) console.warn("package-install: no nvcc, the installed JIT's compile is not tried");
    else expect(seen.compiled).toEqual({ bytes: true, entry: true });
  }, 120_000);

  test("a user's strictest tsconfig type-checks the installed sources (exact optional properties, index signatures, unused names)", () => {
    const tsc = join(root, "node_modules", ".bin", "tsc");
    if (!existsSync(tsc)) {
      console.warn("package-install: TypeScript is not installed here (a runtime-only node_modules); the consumer type check is not run");
      return;
    }
    for (const types of ["bun-types", "@types"]) symlinkSync(join(root, "node_modules", types), join(app, "node_modules", types));
    const compilerOptions = {
      target: "ESNext", module: "Preserve", moduleResolution: "bundler", lib: ["ESNext"], types: ["bun-types"], noEmit: true,
      skipLibCheck: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true, strict: true,
      noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noPropertyAccessFromIndexSignature: true,
      noUnusedLocals: true, noUnusedParameters: true, noImplicitReturns: true, noImplicitOverride: true,
    };
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
    // Optional fields filled from optional variables: allowed under exactOptionalPropertyTypes only
    // where the library's types say `| undefined` (the runtime treats undefined as not given).
    writeFileSync(
      join(app, "consumer.ts"),
      `import { Device, planFp8GemmNt, planMGroupedFp8GemmNtMasked, type GroupedCallOptions, type PlanOptions, type Stream } from "bungemm";
const maybe: number | undefined = process.argv.length > 9 ? 3 : undefined;
const stream: Stream | undefined = undefined;
const options: PlanOptions = { maxSms: maybe, config: { numStages: maybe, blockN: undefined } };
const call: GroupedCallOptions = { stream, debugChecks: undefined };
export const plans = () => [
  planFp8GemmNt(Device.get(0), { m: 1, n: 16, k: 128, outDtype: undefined }, options),
  planMGroupedFp8GemmNtMasked(Device.get(0), { mMax: 64, n: 128, k: 128, numGroups: 2, expectedM: maybe }),
  call,
];
`,
    );
    const result = run([tsc, "-p", "tsconfig.json"], app);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);
});
