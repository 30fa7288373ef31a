import { describe, expect, test } from "bun:test";
import { parseSweep, summarize } from "../../bench/abSummary.ts";

// Two rounds of a bench/tune.ts sweep as it prints them (one section, two configurations).
const round = (a: number, b: number): string => `== 4096 x 2112 x 7168
  128x192 s4 c1x1 ord sfb-math-staged    ${a.toFixed(1)} us  1195 TFLOPS  model 105.7 us  <- heuristics
  128x128 s5 c1x1 sfb-math-staged pipe    ${b.toFixed(1)} us  1068 TFLOPS  model 116.9 us
`;

describe("A/B sweep summary", () => {
  test("collects every round's time per section and configuration", () => {
    const times = parseSweep(round(103.7, 116.1) + round(103.2, 115.5));
    expect([...times.keys()]).toEqual(["4096 x 2112 x 7168 | 128x192 s4 c1x1 ord sfb-math-staged", "4096 x 2112 x 7168 | 128x128 s5 c1x1 sfb-math-staged pipe"]);
    expect(times.get("4096 x 2112 x 7168 | 128x192 s4 c1x1 ord sfb-math-staged")).toEqual([103.7, 103.2]);
  });

  test("old / new of the mean times, and keys seen on one side only", () => {
    const out = summarize(round(100, 110), round(120, 110) + "== 8192 x 8192 x 8192\n  256x128 s3 c1x2 ord sfb-math-staged    900.0 us  1222 TFLOPS  model 1 us\n");
    expect(out).toContain("128x192 s4 c1x1 ord sfb-math-staged: new 100 µs, old 120 µs, old/new 1.200");
    expect(out).toContain("pipe: new 110 µs, old 110 µs, old/new 1.000");
    expect(out).toContain("8192 x 8192 x 8192 | 256x128 s3 c1x2 ord sfb-math-staged: old 900 µs, no new run");
  });

  test("lines that are not timings (errors, blank lines, text before a section) are skipped", () => {
    const times = parseSweep("bungemm: compiled x in 300 ms\n\n== 1 x 2 x 3\n  cfg failed: boom\n  cfg    5.0 us  1 TFLOPS\n");
    expect([...times.entries()]).toEqual([["1 x 2 x 3 | cfg", [5]]]);
  });
});
