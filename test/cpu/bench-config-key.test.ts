/**
 * The sweeps (bench/tune*.ts) deduplicate configurations by their label, so two configurations that
 * differ in any field must get different labels (a missing field once made a sweep time only one).
 */
import { describe, expect, test } from "bun:test";
import { configKey, sweepLine } from "../../bench/configKey.ts";
import type { KernelConfig } from "../../src/gemm/config.ts";

const base: KernelConfig = {
  blockM: 256, blockN: 128, numStages: 3, clusterM: 1, clusterN: 2, rasterGroupN: 8, tmaStore: true,
  orderedMath: true, scaleBSource: "math-staged", pipelinedPromotion: false, splitLastRound: false,
};

describe("sweep configuration labels", () => {
  test("the heuristics' usual choice reads as before", () => {
    expect(configKey(base)).toBe("256x128 s3 c1x2 ord sfb-math-staged");
  });

  const changes: Partial<KernelConfig>[] = [
    { blockM: 128 }, { blockN: 96 }, { numStages: 4 }, { clusterM: 2, clusterN: 1 }, { clusterN: 1 },
    { rasterGroupN: 4 }, { rasterGroupN: 16 }, { tmaStore: false }, { orderedMath: false },
    { scaleBSource: "producer" }, { blockM: 128, pipelinedPromotion: true },
  ];
  test("every field that changes the kernel changes the label", () => {
    const labels = [base, ...changes.map((c) => ({ ...base, ...c }))].map(configKey);
    expect(new Set(labels).size).toBe(labels.length);
  });
});

describe("sweep result lines", () => {
  test("label, time, TFLOPS, note, the model's estimate and the choice's mark line up", () => {
    expect(sweepLine({ label: "256x128 s3 c1x1", us: 174.66, tflops: 1376.4, modelUs: 185.72, chosen: true }))
      .toBe("256x128 s3 c1x1           174.7 us  1376 TFLOPS  model 185.7 us  <- heuristics");
    expect(sweepLine({ label: "128x128 s5 c1x1 pipe", us: 55.5, tflops: 1083, note: "worst draw 901", modelUs: 50, chosen: false }))
      .toBe("128x128 s5 c1x1 pipe       55.5 us  1083 TFLOPS (worst draw 901)  model 50.0 us");
  });
});
