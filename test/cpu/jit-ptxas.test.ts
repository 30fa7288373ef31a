import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePtxasInfo } from "../../src/jit/ptxasInfo.ts";

// A real `nvcc 13.0 -Xptxas -v` log of fixtures/ptxas-sm90a-spills.cu (launch bounds force spills).
const log = readFileSync(join(import.meta.dir, "fixtures", "ptxas-sm90a-spills.log"), "utf8");

describe("parsePtxasInfo", () => {
  test("reads registers, spills, stack and static shared memory per function from a real log", () => {
    expect(parsePtxasInfo(log)).toEqual([
      { name: "small", entry: true, registers: 10, spillStores: 0, spillLoads: 0, stackFrameBytes: 0, sharedBytes: 0 },
      { name: "heavy", entry: true, registers: 64, spillStores: 752, spillLoads: 776, stackFrameBytes: 1024, sharedBytes: 4096 },
      // A non-inlined device function: its spills are reported against it, not the last entry.
      { name: "_Z6helperPfi", entry: false, registers: 0, spillStores: 16, spillLoads: 16, stackFrameBytes: 0, sharedBytes: 0 },
    ]);
  });

  test("an empty or unrelated log gives no functions", () => {
    expect(parsePtxasInfo("")).toEqual([]);
    expect(parsePtxasInfo("nvcc warning : something\n")).toEqual([]);
  });
});
