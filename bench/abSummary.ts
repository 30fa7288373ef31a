/**
 * Summary of an interleaved A/B sweep (`bash scripts/device.sh remote ab`, see README): the same
 * sweep (bench/tune.ts or bench/tune-grouped.ts) ran in alternating rounds with the working tree's
 * kernels ("new") and with `cuda/` of another revision ("old"), on one machine, each round with its
 * own kernel cache. Prints, per shape and configuration, the times of every round and old / new
 * (> 1: the new kernels are faster). Rounds are interleaved because one configuration moves 5-8%
 * between consecutive runs on the same card (docs/perf-notes.md, run 20).
 *   bun bench/abSummary.ts ab-new.log ab-old.log
 */

/** Times (µs) per "section | configuration label", in the order the rounds printed them. */
export function parseSweep(text: string): Map<string, number[]> {
  const times = new Map<string, number[]>();
  let section = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("== ")) {
      section = line.slice(3).trim();
      continue;
    }
    const m = /^\s+(.+?)\s+([\d.]+) us\b/.exec(line);
    if (m === null || section === "") continue;
    const key = `${section} | ${m[1]!.trim()}`;
    times.set(key, [...(times.get(key) ?? []), Number(m[2])]);
  }
  return times;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One line per key present on both sides: new times, old times, and old / new of the means. */
export function summarize(newText: string, oldText: string): string {
  const fresh = parseSweep(newText), old = parseSweep(oldText);
  const lines: string[] = [];
  for (const [key, newTimes] of fresh) {
    const oldTimes = old.get(key);
    if (oldTimes === undefined) {
      lines.push(`${key}: new ${newTimes.join(", ")} µs, no old run`);
      continue;
    }
    const ratio = mean(oldTimes) / mean(newTimes);
    lines.push(`${key}: new ${newTimes.join(", ")} µs, old ${oldTimes.join(", ")} µs, old/new ${ratio.toFixed(3)}`);
  }
  for (const key of old.keys()) if (!fresh.has(key)) lines.push(`${key}: old ${old.get(key)!.join(", ")} µs, no new run`);
  return lines.join("\n");
}

if (import.meta.main) {
  const [newPath, oldPath] = Bun.argv.slice(2);
  if (newPath === undefined || oldPath === undefined) {
    console.error("usage: bun bench/abSummary.ts NEW_LOG OLD_LOG");
    process.exit(2);
  }
  console.log(summarize(await Bun.file(newPath).text(), await Bun.file(oldPath).text()));
}
