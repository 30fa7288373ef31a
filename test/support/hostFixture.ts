/**
 * Host builds of kernel headers for CPU tests: a fixture program under test/cpu/fixtures, compiled
 * with nvcc against cuda/ (the scheduler code is `__host__ __device__`), run, its stdout parsed as JSON.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Compiles test/cpu/fixtures/`fixture` into a fresh directory and returns the executable's path.
 * `headers` are written into that directory first (it is on the include path).
 */
export function buildHostFixture(nvcc: string, fixture: string, headers: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "bungemm-fixture-"));
  for (const [name, text] of Object.entries(headers)) writeFileSync(join(dir, name), text);
  const exe = join(dir, "fixture");
  const build = Bun.spawnSync([nvcc, "-std=c++17", `-I${join(import.meta.dir, "../../cuda")}`, `-I${dir}`,
    join(import.meta.dir, "../cpu/fixtures", fixture), "-o", exe]);
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  return exe;
}

/** Runs a built fixture with `args` and parses its stdout as JSON. */
export function runHostFixture<T>(exe: string, args: string[] = []): T {
  const run = Bun.spawnSync([exe, ...args]);
  if (run.exitCode !== 0) throw new Error(`fixture exited ${run.exitCode}: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString()) as T;
}
