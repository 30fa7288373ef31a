/**
 * The fake libcuda (test/cpu/fixtures/fakeCuda.c) for CPU tests of what crosses bun:ffi. A fixture
 * script runs in a subprocess against it, because the driver table is opened once per process and
 * the other CPU tests need it absent, and prints what it saw as JSON.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FIXTURES = join(import.meta.dir, "../cpu/fixtures");

/** The C compiler the fake is built with, or undefined (the tests then skip, saying why). */
export const cCompiler: string | undefined = Bun.which("gcc") ?? Bun.which("cc") ?? undefined;

/**
 * Builds the fake into a fresh temporary folder and runs `fixtures/<script>` against it (with a
 * kernel cache of its own there), returning the JSON the script printed.
 */
export function runAgainstFakeDriver(script: string): Record<string, unknown> {
  if (cCompiler === undefined) throw new Error("no C compiler to build the fake libcuda");
  const dir = mkdtempSync(join(tmpdir(), "bungemm-fakecuda-"));
  const lib = join(dir, "libfakecuda.so");
  const build = Bun.spawnSync([cCompiler, "-shared", "-fPIC", "-O1", "-o", lib, join(FIXTURES, "fakeCuda.c")]);
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  const run = Bun.spawnSync(["bun", join(FIXTURES, script)], {
    env: { ...process.env, BUNGEMM_LIBCUDA: lib, BUNGEMM_CACHE_DIR: join(dir, "cache") },
  });
  if (run.exitCode !== 0) throw new Error(run.stderr.toString());
  return JSON.parse(run.stdout.toString()) as Record<string, unknown>;
}

/** What `fn` threw, as "Name: message", or "no error": fixture scripts report refusals this way. */
export function caught(fn: () => unknown): string {
  try {
    fn();
    return "no error";
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}
