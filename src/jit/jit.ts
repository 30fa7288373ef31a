/**
 * From kernel source to a launchable function: in-memory map (per device and configuration) →
 * disk cache → compile → Module.load → getFunction. A warm configuration costs one Map lookup.
 */
import { readSettings, type Settings } from "../env.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Device } from "../runtime/device.ts";
import { Module, type KernelFunction } from "../runtime/module.ts";
import { KernelCache, type CacheKeyParts } from "./cache.ts";
import type { CompileRequest, CompileResult, Compiler, TargetArch } from "./compiler.ts";
import { readIncludeTree } from "./includeTree.ts";
import { cudaDir } from "./paths.ts";
import { selectCompiler } from "./selectCompiler.ts";

export interface KernelSource {
  /** The `extern "C" __global__` entry to return. */
  name: string;
  /** The generated translation unit. */
  source: string;
  /** Extra `-I` folders after the package's `cuda/`; their files are part of the cache key too. */
  includeDirs?: readonly string[] | undefined;
}

export interface JitStats {
  /** getKernel calls answered from memory. */
  memoryHits: number;
  /** Kernels loaded from the disk cache. */
  diskHits: number;
  /** Kernels compiled (nothing in memory or on disk). */
  misses: number;
  /** Disk entries found corrupt or truncated (deleted and recompiled). */
  corruptEntries: number;
  /** Compile time of the last miss, in ms. */
  lastCompileMs: number | undefined;
  /** Last disk hit: read + verify + Module.load + getFunction, in ms. */
  lastLoadMs: number | undefined;
}

const stats: JitStats = { memoryHits: 0, diskHits: 0, misses: 0, corruptEntries: 0, lastCompileMs: undefined, lastLoadMs: undefined };
interface LoadedKernel {
  module: Module;
  fn: KernelFunction;
}
// Keyed first by the source string itself: a caller that passes the same string object each time
// (a plan) gets a hash JSC has already cached, so a warm lookup does not rehash kilobytes of source.
const loaded = new Map<string, Map<string, LoadedKernel>>();
let activeCompiler: Compiler | undefined;
let cacheWriteWarned = false;

/** A copy of the counters since the process started (or `resetJitStats`). */
export function jitStats(): JitStats {
  return { ...stats };
}

export function resetJitStats(): void {
  Object.assign(stats, { memoryHits: 0, diskHits: 0, misses: 0, corruptEntries: 0, lastCompileMs: undefined, lastLoadMs: undefined });
}

/** The compiler getKernel uses: chosen from BUNGEMM_COMPILER at first use, or set here (undefined: choose again). */
export function useCompiler(compiler: Compiler | undefined): void {
  activeCompiler = compiler;
}

function compiler(): Compiler {
  activeCompiler ??= selectCompiler();
  return activeCompiler;
}

/**
 * Returns the loaded kernel `kernel.name` of `kernel.source` on `device`, compiling it at most once
 * per machine (disk cache) and loading it at most once per process and device.
 * @throws InvalidArgumentError when the device is not sm_90a; CompileError; LibraryNotFoundError
 *   when no compiler is found; CudaError when the cubin does not load or lacks the entry.
 */
export function getKernel(device: Device, kernel: KernelSource): KernelFunction {
  const variantKey = `${device.ordinal}\0${kernel.name}\0${(kernel.includeDirs ?? []).join("\0")}`;
  const warm = loaded.get(kernel.source)?.get(variantKey);
  if (warm !== undefined) {
    stats.memoryHits++;
    return warm.fn;
  }
  const settings = readSettings();
  const request = kernelRequest(kernel, targetArch(device), settings);
  const start = performance.now();
  const { cubin, from } = cachedCubin(compiler(), request, new KernelCache(settings.cacheDir), settings.printCompile);
  const module = Module.load(device, cubin);
  let fn: KernelFunction;
  try {
    fn = module.getFunction(kernel.name);
  } catch (error) {
    module.dispose();
    throw error;
  }
  if (from === "cache") {
    stats.lastLoadMs = performance.now() - start;
    if (settings.printCompile) console.error(`bungemm: loaded ${kernel.name} from the cache in ${stats.lastLoadMs.toFixed(1)} ms`);
  }
  let variants = loaded.get(kernel.source);
  if (variants === undefined) {
    variants = new Map();
    loaded.set(kernel.source, variants);
  }
  variants.set(variantKey, { module, fn });
  return fn;
}

/**
 * The cubin for `request`: from `cache` when a valid entry is there, else compiled and stored
 * (a corrupt entry has been deleted by the lookup and is replaced). Updates the stats.
 */
export function cachedCubin(
  backend: Compiler,
  request: CompileRequest,
  cache: KernelCache,
  print = false,
): { cubin: Uint8Array; from: "cache" | "compiler" } {
  const key = cache.key(cacheKeyParts(backend, request));
  const found = cache.lookup(key);
  if (found.status === "hit") {
    stats.diskHits++;
    return { cubin: found.cubin, from: "cache" };
  }
  if (found.status === "corrupt") stats.corruptEntries++;
  stats.misses++;
  const result = backend.compile(request);
  stats.lastCompileMs = result.ms;
  if (print) {
    console.error(`bungemm: compiled ${request.kernelName} with ${backend.backend} ${backend.version()} in ${result.ms.toFixed(0)} ms`);
  }
  try {
    cache.put(key, result.cubin);
  } catch (error) {
    // A read-only or full cache folder costs a recompile per process, not the call; say so once.
    if (!cacheWriteWarned) {
      cacheWriteWarned = true;
      const reason = error instanceof Error ? error.message : String(error);
      console.warn(`bungemm: could not write the kernel cache in ${cache.dir} (${reason}); kernels will be recompiled in every process. Set BUNGEMM_CACHE_DIR to a writable folder.`);
    }
  }
  return { cubin: result.cubin, from: "compiler" };
}

/**
 * Unloads every kernel getKernel loaded (on `device`, or on all devices; only those whose entry name
 * `only` accepts, when given), so the next call reads the disk cache again. For benchmarks of the
 * cache path and for tests; functions returned before are invalid after, so `only` lets a caller
 * leave alone the kernels that cached plans elsewhere in the process still hold.
 */
export function forgetLoadedKernels(device?: Device, only?: (kernelName: string) => boolean): void {
  for (const [source, variants] of loaded) {
    for (const [key, entry] of variants) {
      if (device !== undefined && entry.module.device !== device) continue;
      if (only !== undefined && !only(entry.fn.name)) continue;
      variants.delete(key);
      entry.module.dispose();
    }
    if (variants.size === 0) loaded.delete(source);
  }
}

/**
 * Compiles `source` without a device and without the cache (CI, CPU tests, ptxas checks): the
 * package's `cuda/` is on the include path, the target is sm_90a unless told otherwise.
 */
export function compileOnly(
  source: string,
  name: string,
  backend: Compiler = compiler(),
  options: { arch?: TargetArch; includeDirs?: readonly string[]; extraOptions?: readonly string[] } = {},
): CompileResult {
  const request = kernelRequest({ source, name, includeDirs: options.includeDirs }, options.arch ?? "sm_90a", { lineInfo: false });
  return backend.compile({ ...request, extraOptions: options.extraOptions ?? [] });
}

/**
 * What getKernel compiles for `kernel`: the package's `cuda/` first on the include path, and
 * `-lineinfo` when BUNGEMM_LINEINFO asks for it (an option, so such cubins have their own cache entries).
 */
export function kernelRequest(kernel: KernelSource, arch: TargetArch, settings: Pick<Settings, "lineInfo">): CompileRequest {
  return {
    source: kernel.source,
    kernelName: kernel.name,
    arch,
    includeDirs: [cudaDir(), ...(kernel.includeDirs ?? [])],
    extraOptions: settings.lineInfo ? ["-lineinfo"] : [],
  };
}

/** The cache key's inputs for `request`: include folders enter by content, not by where they are. */
export function cacheKeyParts(backend: Compiler, request: CompileRequest): CacheKeyParts {
  const placeholders = request.includeDirs.map((_, index) => `<include ${index}>`);
  return {
    source: request.source,
    includeFiles: readIncludeTree(request.includeDirs),
    options: backend.options({ ...request, includeDirs: placeholders }),
    backend: backend.backend,
    compilerVersion: backend.version(),
    arch: request.arch,
  };
}

function targetArch(device: Device): TargetArch {
  if (device.arch !== "sm_90a") {
    throw new InvalidArgumentError("device", "bungemm's kernels need a Hopper GPU (sm_90a: H100, H200, H800)", device.arch);
  }
  return device.arch;
}
