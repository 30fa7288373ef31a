import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gbps, gemmBytes, gemmFlops, geomean, median, speedup, tflops } from "../../bench/metrics.ts";
import {
  buildRecord,
  formatConfig,
  gpuSlug,
  recordFileNames,
  renderMarkdown,
  summarizeRows,
  writeRecord,
  type BenchRow,
  type RecordInput,
} from "../../bench/record.ts";

function row(m: number, n: number, k: number, vsCublasLt: number | null, vsCublasLtBlock: number | null): BenchRow {
  return {
    kind: "dense",
    m,
    n,
    k,
    groups: 1,
    us: 10,
    tflops: 1,
    gbps: 1,
    vsCublasLt,
    vsCublasLtBlock,
    relError: 1e-3,
    config: { blockM: 128, blockN: 160, stages: 5, cluster: 2 },
  };
}

function input(rows: BenchRow[]): RecordInput {
  return {
    date: "2026-11-28",
    gpu: "NVIDIA H200",
    driver: 13000,
    nvrtc: "13.0",
    cublasLt: 130000,
    copyTBs: 4.06,
    rows,
    host: { coldCompileMs: 2100, cacheLoadMs: 3.2, warmCallUs: 4.5 },
    notes: [],
    bun: "1.4.4",
  };
}

describe("bench metrics", () => {
  test("rates reproduce DESIGN §6's first DeepGEMM row (64 x 2112 x 7168 in 10.0 µs)", () => {
    const bytes = gemmBytes(64, 2112, 7168);
    // A + B + A scales + B scales + bf16 D, each once.
    expect(bytes).toBe(64 * 7168 + 2112 * 7168 + 64 * 56 * 4 + 17 * 56 * 4 + 64 * 2112 * 2);
    expect(Math.round(gbps(bytes, 10.0))).toBe(1589);
    expect(Math.round(tflops(gemmFlops(64, 2112, 7168), 10.0))).toBe(194);
  });

  test("grouped bytes count one B per group; f32 output doubles D", () => {
    expect(gemmBytes(128, 256, 128, { groups: 4 }) - gemmBytes(128, 256, 128)).toBe(3 * (256 * 128 + 2 * 4));
    expect(gemmBytes(2, 3, 128, { outDtype: "f32" }) - gemmBytes(2, 3, 128)).toBe(2 * 3 * 2);
  });

  test("speedup is baseline over ours, null when either is missing", () => {
    expect(speedup(12, 10)).toBeCloseTo(1.2, 12);
    expect(speedup(null, 10)).toBeNull();
    expect(speedup(10, 0)).toBeNull();
  });

  test("geomean ignores missing and non-positive values", () => {
    expect(geomean([2, 8])).toBeCloseTo(4, 12);
    expect(geomean([2, null, 8, 0, -1, Number.NaN])).toBeCloseTo(4, 12);
    expect(geomean([null])).toBeNull();
  });

  test("median", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe("bench record", () => {
  test("summary: geomeans over dense rows and over the M = 4096 rows, counting rows that had a ratio", () => {
    const rows = [row(64, 2112, 7168, 0.5, null), row(4096, 2112, 7168, 2, 1.5), row(4096, 7168, 2048, 8, null)];
    rows.push({ ...row(4096, 4096, 7168, 100, 100), kind: "contiguous" });
    const s = summarizeRows(rows);
    expect(s.denseVsCublasLt.value).toBeCloseTo(2, 12);
    expect(s.denseVsCublasLt.rows).toBe(3);
    expect(s.denseVsCublasLtM4096.value).toBeCloseTo(4, 12);
    expect(s.denseVsCublasLtBlock).toEqual({ value: 1.5, rows: 1 });
    expect(s.denseVsCublasLtBlockM4096.rows).toBe(1);
  });

  test("buildRecord keeps DESIGN §8's fields and adds the summary", () => {
    const record = buildRecord(input([row(4096, 7168, 2048, 1.1, 1.3)]));
    expect(Object.keys(record)).toEqual(
      expect.arrayContaining(["date", "gpu", "driver", "nvrtc", "copyTBs", "rows", "host", "summary"]),
    );
    expect(Object.keys(record.rows[0]!)).toEqual(
      expect.arrayContaining(["kind", "m", "n", "k", "groups", "us", "tflops", "gbps", "vsCublasLt", "relError", "config"]),
    );
    expect(record.summary.denseVsCublasLt.value).toBeCloseTo(1.1, 12);
    expect(buildRecord({ ...input([]), date: undefined }).date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  test("file names: latest plus a dated copy named by GPU", () => {
    expect(gpuSlug("NVIDIA H200")).toBe("nvidia-h200");
    expect(gpuSlug("NVIDIA H100 80GB HBM3")).toBe("nvidia-h100-80gb-hbm3");
    expect(gpuSlug("???")).toBe("unknown-gpu");
    expect(recordFileNames({ date: "2026-11-28", gpu: "NVIDIA H200" }).datedJson).toBe("2026-11-28-nvidia-h200.json");
  });

  test("markdown: one table row per record row, missing values as dashes, geomeans listed", () => {
    const rows = [row(4096, 7168, 2048, 1.1, null)];
    rows[0]!.baselines = { cublasLt: { us: 11, relError: null }, cublasLtBlock: { unsupported: "M must be a multiple of 4" } };
    const md = renderMarkdown(buildRecord(input(rows)));
    const tableRows = md.split("\n").filter((l) => l.startsWith("| dense"));
    expect(tableRows).toHaveLength(1);
    expect(tableRows[0]).toContain("| 4096 | 7168 | 2048 | 1 | 10.0 |");
    expect(tableRows[0]).toContain("| 11.0 | 1.10 | n/a | – |");
    expect(tableRows[0]).toContain("128x160 s5 c2");
    expect(md).toContain("4.06 TB/s");
    expect(md).toContain("vs cuBLASLt, M = 4096: 1.100 over 1 rows");
    expect(md).toContain("vs cuBLASLt block-scaled, all: – (no rows)");
    expect(formatConfig(null)).toBe("–");
    expect(formatConfig({ blockM: 64, blockN: 32 })).toBe("64x32");
    expect(formatConfig({ blockM: 128, blockN: 128, stages: 5, cluster: 1, pipelinedPromotion: true })).toBe("128x128 s5 c1 pipe");
    expect(formatConfig({ blockM: 256, blockN: 128, stages: 3, cluster: 2, pipelinedPromotion: false })).toBe("256x128 s3 c2");
    expect(formatConfig({ inDtype: "bf16", copyFraction: 0.73, sameSizeCopyFraction: 0.894 })).toBe("bf16 89% of a same-size copy");
  });

  test("markdown: the clock floor is stated when it was measured, and only then", () => {
    const rows = [row(4096, 7168, 2048, 1.1, null)];
    expect(renderMarkdown(buildRecord(input(rows)))).not.toContain("Clock floor");
    const measured = input(rows);
    measured.host = { ...measured.host, clockFloorUs: 2.345 };
    expect(renderMarkdown(buildRecord(measured))).toContain("takes 2.35 µs; every time above includes it");
  });

  test("writeRecord writes latest.json, the dated copy and latest.md", () => {
    const dir = mkdtempSync(join(tmpdir(), "bungemm-record-"));
    try {
      const record = buildRecord(input([row(128, 2112, 7168, 1, 1)]));
      const paths = writeRecord(record, dir);
      expect(paths.map((p) => p.slice(dir.length + 1))).toEqual(["latest.json", "2026-11-28-nvidia-h200.json", "latest.md"]);
      expect(JSON.parse(readFileSync(paths[0]!, "utf8"))).toEqual(record);
      expect(readFileSync(paths[1]!, "utf8")).toBe(readFileSync(paths[0]!, "utf8"));
      expect(readFileSync(paths[2]!, "utf8")).toStartWith("# Benchmark 2026-11-28 — NVIDIA H200");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
