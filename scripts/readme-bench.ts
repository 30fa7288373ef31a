/**
 * Copies the latest benchmark table (bench/results/latest.md, written by `bun run bench` on the GPU)
 * into README.md between the `<!-- bench:start -->` and `<!-- bench:end -->` markers, so the README
 * shows the record itself and never hand-typed numbers.   Run: bun scripts/readme-bench.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";

export function spliceBenchTable(readme: string, latest: string): string {
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) throw new Error(`README.md needs the markers ${START} and ${END}`);
  // The record's own title becomes a sub-heading of the README section.
  const body = latest.replace(/^# /m, "### ").trim();
  return `${readme.slice(0, from + START.length)}\n${body}\n${readme.slice(to)}`;
}

if (import.meta.main) {
  const readmePath = join(root, "README.md");
  const latest = readFileSync(join(root, "bench", "results", "latest.md"), "utf8");
  writeFileSync(readmePath, spliceBenchTable(readFileSync(readmePath, "utf8"), latest));
  console.log("README.md: benchmark table updated from bench/results/latest.md");
}
