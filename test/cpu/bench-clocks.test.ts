/** bench/clocks.ts: nvidia-smi sample parsing and per-phase means (the GPU part runs on the device). */
import { describe, expect, test } from "bun:test";
import { parseClockSamples, phaseMeans } from "../../bench/clocks.ts";

const LOG = [
  "2026/11/29 08:40:26.641, 1410, 533.20, 0x0000000000000004",
  "2026/11/29 08:40:26.661, 1290, 540.80, 0x0000000000000000",
  "not a sample",
  "2026/11/29 08:40:26.681, 1200, 610.00, 0x0000000000000004",
  "",
].join("\n");

describe("clock samples", () => {
  test("timestamps are local time in ms, as Date.now() counts; malformed lines are skipped", () => {
    const samples = parseClockSamples(LOG);
    expect(samples.length).toBe(3);
    expect(samples[0]).toEqual({ ms: new Date(2026, 10, 29, 8, 40, 26, 641).getTime(), smMhz: 1410, watts: 533.2, reasons: "0x0000000000000004" });
    expect(samples[2]!.ms - samples[0]!.ms).toBe(40);
  });

  test("phase means cover only the samples inside the window", () => {
    const samples = parseClockSamples(LOG);
    const t0 = samples[0]!.ms;
    expect(phaseMeans(samples, t0, t0 + 20)).toEqual({ smMhz: 1350, watts: 537, reasons: ["0x0000000000000000", "0x0000000000000004"], count: 2 });
    expect(phaseMeans(samples, t0 + 100, t0 + 200)).toBeUndefined();
  });
});
