/**
 * The cuBLASLt baseline's bindings, checked without a GPU: a mock libcublasLt (fixtures/
 * cublasLtMock.c, built here with the system C compiler) logs every call, and the test reads back
 * what the plan passed: the TN operand swap, attribute ids and values, layouts, scale pointers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CString, dlopen, FFIType } from "bun:ffi";
import {
  CUBLASLT_WORKSPACE_BYTES,
  cublasLtShapeProblem,
  cublasLtSymbols,
  planCublasLtFp8,
  toCublasLtBlockScales,
  type CublasLtContext,
} from "../../bench/cublasLt.ts";

const cc = Bun.which("cc") ?? Bun.which("gcc");
const dir = mkdtempSync(join(tmpdir(), "bungemm-cublaslt-mock-"));
const libPath = join(dir, "libcublasLtMock.so");
let ctx: CublasLtContext;
let mock: { log(): string; reset(): void; setHeuristicCount(n: number): void; failAttribute(attr: number): void };

beforeAll(() => {
  if (!cc) return;
  const build = Bun.spawnSync([cc, "-shared", "-fPIC", "-O1", "-o", libPath, join(import.meta.dir, "fixtures", "cublasLtMock.c")]);
  if (build.exitCode !== 0) throw new Error(`mock build failed: ${build.stderr.toString()}`);
  const lib = dlopen(libPath, cublasLtSymbols).symbols;
  const control = dlopen(libPath, {
    mock_log: { args: [], returns: FFIType.ptr },
    mock_reset: { args: [], returns: FFIType.void },
    mock_set_heuristic_count: { args: [FFIType.i32], returns: FFIType.void },
    mock_fail_attribute: { args: [FFIType.i32], returns: FFIType.void },
  }).symbols;
  mock = {
    log: () => {
      const p = control.mock_log();
      return p === null ? "" : new CString(p).toString();
    },
    reset: () => control.mock_reset(),
    setHeuristicCount: (n) => control.mock_set_heuristic_count(n),
    failAttribute: (attr) => control.mock_fail_attribute(attr),
  };
  ctx = { lib, handle: 0x77n, workspace: { ptr: 0x5000n, bytes: CUBLASLT_WORKSPACE_BYTES }, activate: () => {} };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!cc)("cuBLASLt bindings against a mock library", () => {
  test("block plan: TN layouts with cuBLASLt's m,n = our N,M; BLK128x128 on the weights, VEC128 on the activations", () => {
    mock.reset();
    const planned = planCublasLtFp8(ctx, 4096, 7168, 2048, { scaling: "block" });
    if (!planned.ok) throw new Error(planned.reason);
    const log = mock.log();
    expect(log).toContain("descCreate 68 0\n"); // CUBLAS_COMPUTE_32F, CUDA_R_32F
    expect(log).toContain("descAttr 3 1\n"); // TRANSA = T
    expect(log).toContain("descAttr 4 0\n"); // TRANSB = N
    expect(log).toContain("descAttr 31 5\n"); // A_SCALE_MODE = BLK128x128_32F
    expect(log).toContain("descAttr 32 4\n"); // B_SCALE_MODE = VEC128_32F
    expect(log).toContain("layout 28 2048 7168 2048\n"); // its A = our B: K x N, ld K, e4m3
    expect(log).toContain("layout 28 2048 4096 2048\n"); // its B = our A: K x M
    expect(log).toContain("layout 14 7168 4096 7168\n"); // D: N x M bf16, ld N
    expect(log).toContain(`prefAttr 1 ${CUBLASLT_WORKSPACE_BYTES} (size 8)\n`);
    expect(log).toContain("heuristic handle 77 requested 1 c==d 1\n");
    expect(planned.plan.info.algoWorkspace).toBe(1234);

    mock.reset();
    const stream = { handle: 0x99n };
    planned.plan.run({ ptr: 0xa0n }, { ptr: 0xb0n }, { ptr: 0xd0n }, { ptr: 0x5an }, { ptr: 0x5bn }, stream);
    const run = mock.log();
    expect(run).toContain("descAttr 17 0x5b\n"); // its A scales = our B scales
    expect(run).toContain("descAttr 18 0x5a\n"); // its B scales = our A scales
    expect(run).toContain(`matmul handle 77 alpha 1 A b0 B a0 beta 0 C d0 D d0 algo abc ws 5000 ${CUBLASLT_WORKSPACE_BYTES} stream 99\n`);

    // Same pointers again: no attribute rewrites on the hot path.
    mock.reset();
    planned.plan.run({ ptr: 0xa0n }, { ptr: 0xb0n }, { ptr: 0xd0n }, { ptr: 0x5an }, { ptr: 0x5bn }, stream);
    expect(mock.log()).not.toContain("descAttr");
    planned.plan.dispose();
  });

  test("unit plan sets no scale modes or pointers", () => {
    mock.reset();
    const planned = planCublasLtFp8(ctx, 64, 2112, 7168, { scaling: "unit" });
    if (!planned.ok) throw new Error(planned.reason);
    planned.plan.run({ ptr: 1n }, { ptr: 2n }, { ptr: 3n }, undefined, undefined, { handle: 0n });
    const log = mock.log();
    expect(log).not.toMatch(/descAttr (17|18|31|32) /);
    expect(log).toContain("matmul handle 77 alpha 1 A 2 B 1 beta 0 C 3 D 3");
    planned.plan.dispose();
  });

  test("refusals come back as reasons, with every descriptor destroyed", () => {
    mock.reset();
    mock.setHeuristicCount(0);
    const none = planCublasLtFp8(ctx, 128, 4096, 7168, { scaling: "block" });
    expect(none).toEqual({ ok: false, reason: "cublasLtMatmulAlgoGetHeuristic found no algorithm for block FP8" });
    const log = mock.log();
    expect(log.match(/layoutDestroy/g)).toHaveLength(3);
    expect(log).toContain("descDestroy");
    expect(log).toContain("prefDestroy");

    mock.reset();
    mock.failAttribute(31);
    const old = planCublasLtFp8(ctx, 128, 4096, 7168, { scaling: "block" });
    expect(old).toEqual({ ok: false, reason: "cublasLtMatmulDescSetAttribute failed: MOCK_STATUS_7 (7)" });

    mock.reset();
    expect(planCublasLtFp8(ctx, 1, 4096, 7168, { scaling: "block" })).toEqual({
      ok: false,
      reason: "M = 1 is not a multiple of 4 (block-scaled cuBLASLt requires it)",
    });
    expect(mock.log()).toBe("");
  });
});

describe("cuBLASLt scale layout and shape rules", () => {
  test("B scales are re-padded to rows of L rounded up to 4, untouched when L is a multiple of 4", () => {
    const sfb = Float32Array.from({ length: 2 * 3 }, (_, i) => i + 1);
    expect([...toCublasLtBlockScales(sfb, 2, 3)]).toEqual([1, 2, 3, 0, 4, 5, 6, 0]);
    const aligned = new Float32Array(2 * 56);
    expect(toCublasLtBlockScales(aligned, 2, 56)).toBe(aligned);
    expect(() => toCublasLtBlockScales(sfb, 2, 4)).toThrow(RangeError);
  });

  test("shape rules", () => {
    expect(cublasLtShapeProblem(1, 2112, 7168, "unit")).toBeUndefined();
    expect(cublasLtShapeProblem(1, 2112, 7168, "block")).toContain("M = 1");
    expect(cublasLtShapeProblem(64, 2112, 7168, "block")).toBeUndefined();
    expect(cublasLtShapeProblem(64, 2112, 7160, "unit")).toContain("K = 7160");
  });
});
