/** The bring-up host timings in the record (host.bringup) and the foundation-<date>.md page. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderFoundationReport, writeFoundationReport } from "../../bench/foundationReport.ts";
import { buildRecord, renderMarkdown, type HostRecord } from "../../bench/record.ts";

const dir = mkdtempSync(join(tmpdir(), "bungemm-foundation-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(host: HostRecord) {
  return buildRecord({ date: "2026-11-28", gpu: "NVIDIA H200", driver: 13000, nvrtc: "13.0", cublasLt: null, copyTBs: 4, rows: [], host, notes: [], bun: "1.3.0" });
}

const bringup = {
  compiler: "nvrtc 13.0",
  kernels: [
    { name: "bungemm_test_cluster_rank", coldCompileMs: 41.6, cacheLoadMs: 0.734 },
    { name: "bungemm_test_tma_tile_copy_128x64_sw128", coldCompileMs: null, cacheLoadMs: 0.5 },
  ],
  warmLaunchUs: 2.345,
};

describe("foundation report", () => {
  test("nothing to write without bring-up timings", () => {
    const r = record({ coldCompileMs: null, cacheLoadMs: null, warmCallUs: null });
    expect(renderFoundationReport(r)).toBeUndefined();
    expect(writeFoundationReport(r, dir)).toBeUndefined();
    expect(renderMarkdown(r)).not.toContain("Bring-up kernels");
  });

  test("page: GPU, date, compiler, one row per kernel, warm launch and the GEMM's plan.run; missing values as –", () => {
    const r = record({ coldCompileMs: 950, cacheLoadMs: 3.2, warmCallUs: 6.5, bringup });
    const path = writeFoundationReport(r, dir);
    expect(path).toBe(join(dir, "foundation-2026-11-28.md"));
    expect(existsSync(path ?? "")).toBe(true);
    const text = readFileSync(path ?? "", "utf8");
    expect(text).toStartWith("# Foundation host timings 2026-11-28 — NVIDIA H200\n");
    expect(text).toContain("nvrtc 13.0");
    expect(text).toContain("| bungemm_test_cluster_rank | 42 | 0.73 |");
    expect(text).toContain("| bungemm_test_tma_tile_copy_128x64_sw128 | – | 0.50 |");
    expect(text).toContain("**2.35 µs**");
    expect(text).toContain("**6.50 µs**");
  });

  test("the record's markdown carries the bring-up line; the JSON keeps host.bringup", () => {
    const r = record({ coldCompileMs: 950, cacheLoadMs: 3.2, warmCallUs: 6.5, bringup });
    expect(renderMarkdown(r)).toContain("Bring-up kernels (nvrtc 13.0; cold compile / cache load): bungemm_test_cluster_rank 42 / 0.7 ms");
    expect(JSON.parse(JSON.stringify(r)).host.bringup).toEqual(bringup);
  });
});
