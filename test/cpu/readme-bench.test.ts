import { describe, expect, test } from "bun:test";
import { spliceBenchTable } from "../../scripts/readme-bench.ts";

describe("README benchmark section", () => {
  test("replaces exactly the text between the markers with the record", () => {
    const readme = "intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\noutro\n";
    const out = spliceBenchTable(readme, "# Benchmark 2026-11-28 — NVIDIA H200\n\n| a |\n");
    expect(out).toBe("intro\n<!-- bench:start -->\n### Benchmark 2026-11-28 — NVIDIA H200\n\n| a |\n<!-- bench:end -->\noutro\n");
  });
  test("refuses a README without the markers", () => {
    expect(() => spliceBenchTable("no markers", "# x")).toThrow(/markers/);
  });
});
