/**
 * The NVCC backend: runs `nvcc -cubin` in a temporary folder. Used where NVRTC is absent (CI has
 * nvcc and ptxas but no GPU and no NVRTC) and to check `ptxas -v` resource usage (spills).
 */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Settings } from "../env.ts";
import { BungemmError, CompileError, LibraryNotFoundError } from "../errors.ts";
import { commonOptions, type CompileRequest, type CompileResult, type Compiler } from "./compiler.ts";
import { parsePtxasInfo } from "./ptxasInfo.ts";

export class NvccCompiler implements Compiler {
  readonly backend = "nvcc" as const;
  #version: string | undefined;

  /** `path`: the nvcc executable (see `locateNvcc`). */
  constructor(readonly path: string) {}

  version(): string {
    this.#version ??= readNvccVersion(this.path);
    return this.#version;
  }

  options(req: CompileRequest): string[] {
    const virtual = req.arch.replace(/^sm_/, "compute_");
    // -Xptxas -v always: its report costs nothing and is what CI checks for spills.
    return ["-cubin", `-gencode=arch=${virtual},code=${req.arch}`, ...commonOptions(req), "-Xptxas", "-v"];
  }

  compile(req: CompileRequest): CompileResult {
    const dir = mkdtempSync(join(tmpdir(), "bungemm-nvcc-"));
    try {
      const sourcePath = join(dir, `${req.kernelName.replace(/[^\w.-]/g, "_")}.cu`);
      const cubinPath = join(dir, "out.cubin");
      writeFileSync(sourcePath, req.source);
      const start = performance.now();
      const run = Bun.spawnSync([this.path, ...this.options(req), "-o", cubinPath, sourcePath], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const ms = performance.now() - start;
      const log = `${run.stdout.toString()}${run.stderr.toString()}`;
      if (run.exitCode !== 0) {
        const status = run.exitCode === null ? `killed by ${run.signalCode ?? "a signal"}` : `exit code ${run.exitCode}`;
        throw new CompileError("nvcc", req.kernelName, `${log}\n(nvcc ${status})`);
      }
      const cubin = new Uint8Array(readFileSync(cubinPath));
      return { cubin, log, ms, resources: parsePtxasInfo(log) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Finds nvcc: BUNGEMM_NVCC, then $CUDA_HOME/bin, then /usr/local/cuda/bin, then PATH.
 * @throws LibraryNotFoundError listing every place tried.
 */
export function locateNvcc(settings: Pick<Settings, "nvccPath" | "cudaHome">): string {
  const tried: string[] = [];
  const candidates = [
    settings.nvccPath,
    settings.cudaHome === undefined ? undefined : join(settings.cudaHome, "bin", "nvcc"),
    "/usr/local/cuda/bin/nvcc",
  ];
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    tried.push(candidate);
    if (isExecutable(candidate)) return candidate;
  }
  const onPath = Bun.which("nvcc");
  tried.push(`nvcc on PATH${onPath === null ? " (not found)" : `: ${onPath}`}`);
  if (onPath !== null) return onPath;
  throw new LibraryNotFoundError("nvcc", tried, "Set BUNGEMM_NVCC to the nvcc executable, or CUDA_HOME to the CUDA install root.");
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    // Missing or not executable: the caller lists it among the places tried.
    return false;
  }
}

function readNvccVersion(path: string): string {
  const run = Bun.spawnSync([path, "--version"], { stdout: "pipe", stderr: "pipe" });
  const text = `${run.stdout.toString()}${run.stderr.toString()}`;
  // "Cuda compilation tools, release 13.0, V13.0.88": the V… form carries the patch level.
  const match = /release [\d.]+, V([\d.]+)/.exec(text);
  if (run.exitCode !== 0 || !match) {
    throw new BungemmError(`could not read the version of ${path} (exit code ${run.exitCode}):\n${text}`);
  }
  return match[1] as string;
}
