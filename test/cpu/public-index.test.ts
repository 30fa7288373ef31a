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
});
