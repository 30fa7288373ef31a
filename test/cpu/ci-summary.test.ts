import { describe, expect, test } from "bun:test";
import { formatSummary, parseBunSummary, summarizeLog } from "../../scripts/summary.ts";

// The tail of a real `bun test` run (Bun 1.4.4), failures included.
const BUN_TAIL = `
(fail) d [0.33ms]

 12 pass
 2 skip
 1 todo
 3 fail
 40 expect() calls
Ran 18 tests across 4 files. [120.00ms]
`;

describe(".ci/run summary line", () => {
  test("reads Bun's pass/fail/skip lines; todo counts as skipped", () => {
    expect(parseBunSummary(BUN_TAIL)).toEqual({ passed: 12, failed: 3, skipped: 3 });
    expect(formatSummary({ passed: 12, failed: 3, skipped: 3 })).toBe("12 passed, 3 failed, 3 skipped");
  });

  test("lines Bun leaves out count as zero", () => {
    expect(parseBunSummary(" 7 pass\n 0 fail\nRan 7 tests across 2 files.")).toEqual({ passed: 7, failed: 0, skipped: 0 });
  });

  test("colour codes from a terminal do not hide the counts", () => {
    expect(parseBunSummary("\x1b[32m 5 pass\x1b[0m\n\x1b[31m 1 fail\x1b[0m\n")).toEqual({ passed: 5, failed: 1, skipped: 0 });
  });

  test("several runs in one log are added up", () => {
    expect(parseBunSummary(`${BUN_TAIL}\n 4 pass\n 0 fail\n`)).toEqual({ passed: 16, failed: 3, skipped: 3 });
  });

  test("test output that merely mentions the words is not counted", () => {
    expect(parseBunSummary("expected 3 pass to be 2\n a 1 fail here\n 2 pass\n")).toEqual({ passed: 2, failed: 0, skipped: 0 });
  });

  test("a log with no summary is a failure, not a pass", () => {
    expect(parseBunSummary("Segmentation fault\n")).toBeUndefined();
    expect(formatSummary(summarizeLog("Segmentation fault\n"))).toBe("0 passed, 1 failed, 0 skipped");
  });
});
