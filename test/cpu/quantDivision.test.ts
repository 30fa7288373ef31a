/**
 * The quantizers' division (cuda/bungemm/quant.cuh quotient_rn: one RN reciprocal per block, then
 * q = x·r, e = fma(q, s, −x), copysign(fma(−e, r, q), x)) equals the correctly rounded x / s, run
 * on the host in IEEE binary32 by fixtures/quantDivision.c (docs/quantization.md, "Division"):
 * every bf16 significand × every scale significand, every f32 significand × 48 scales, every bf16
 * pattern × 4096 scales from the scale formula, f32 subnormals, ±0, ±Inf, NaN, 1e8 random blocks.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const compiler = Bun.which("gcc") ?? Bun.which("cc");

/**
 * Whether `-march=native` gives this host hardware fma. The fixture needs it: glibc's software fmaf
 * is exact but far too slow for 1e8 blocks, so without it the fixture exits 77 instead of proving
 * anything. Asked of the preprocessor up front, so that a host without it shows a skip, not a pass.
 */
function nativeHasFma(cc: string): boolean {
  const probe = Bun.spawnSync([cc, "-march=native", "-dM", "-E", "-x", "c", "/dev/null"]);
  if (probe.exitCode !== 0) return false;
  return /#define (__FMA__|__ARM_FEATURE_FMA) 1/.test(probe.stdout.toString());
}

const hasFma = compiler !== null && nativeHasFma(compiler);
if (!compiler) console.warn("skipping the quantization division proof: no C compiler");
else if (!hasFma) console.warn("skipping the quantization division proof: -march=native gives no hardware fma here");

describe.skipIf(!hasFma)("quantization division: Markstein sequence vs IEEE division", () => {
  test("no mismatch (f32 quotient where normal, e4m3 code everywhere)", () => {
    const exe = join(mkdtempSync(join(tmpdir(), "bungemm-qdiv-")), "quantDivision");
    const source = join(import.meta.dir, "fixtures", "quantDivision.c");
    // -ffp-contract=off: only the explicit fmaf calls fuse. -march=native brings hardware fma.
    const build = Bun.spawnSync([compiler as string, "-O3", "-march=native", "-ffp-contract=off", "-o", exe, source, "-lm"]);
    if (build.exitCode !== 0) throw new Error(build.stderr.toString());
    const run = Bun.spawnSync([exe, "100000000"]);
    const output = run.stdout.toString();
    // Exit 77 (no fma in the build) fails here: the probe above said the build would have it.
    expect({ exitCode: run.exitCode, output }).toEqual({ exitCode: 0, output: expect.stringContaining("mismatches 0\n") });
    expect(output).toContain("A: 128 bf16 significands x 2^23 scale significands: 0 mismatches");
    expect(output).toContain("B: 2^23 f32 significands x 48 scale significands: 0 mismatches");
  }, 120_000);
});
