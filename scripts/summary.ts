/**
 * Reads Bun's own test summary (the ` N pass`, ` N fail`, ` N skip`, ` N todo` lines `bun test`
 * prints at the end) and turns it into the one line CI reports: `N passed, N failed, N skipped`.
 *
 * Used by `.ci/run` as `bun scripts/summary.ts < log`. Every summary block in the log is added up,
 * so a log holding several `bun test` runs (the GPU workflow runs two) gives their total.
 */

export interface TestSummary {
  passed: number;
  failed: number;
  /** `skip` plus `todo`: tests Bun did not run. */
  skipped: number;
}

// Bun prints colour codes when stdout is a terminal; a tee'd log may still carry them.
const ANSI = /\x1b\[[0-9;]*m/g;
const COUNT_LINE = /^\s*(\d+) (pass|fail|skip|todo)\s*$/;

/**
 * Sums Bun's summary counts found in `log`. Returns `undefined` when the log holds no summary at
 * all (Bun crashed, or never ran), so the caller can tell "0 tests" from "no report".
 */
export function parseBunSummary(log: string): TestSummary | undefined {
  const summary: TestSummary = { passed: 0, failed: 0, skipped: 0 };
  let found = false;
  for (const raw of log.split(/\r?\n/)) {
    const match = COUNT_LINE.exec(raw.replace(ANSI, ""));
    if (!match) continue;
    found = true;
    const count = Number(match[1]);
    const kind = match[2];
    if (kind === "pass") summary.passed += count;
    else if (kind === "fail") summary.failed += count;
    else summary.skipped += count;
  }
  return found ? summary : undefined;
}

/** The CI line, exactly `N passed, N failed, N skipped`. */
export function formatSummary(s: TestSummary): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

/**
 * The summary CI reports for a log. A log without Bun's summary counts as one failure: the test
 * run broke before it could report, and CI must not read that as success.
 */
export function summarizeLog(log: string): TestSummary {
  return parseBunSummary(log) ?? { passed: 0, failed: 1, skipped: 0 };
}

if (import.meta.main) {
  const log = await new Response(Bun.stdin.stream()).text();
  const summary = summarizeLog(log);
  console.log(formatSummary(summary));
  process.exit(summary.failed > 0 ? 1 : 0);
}
