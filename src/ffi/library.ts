/**
 * Finding and opening native libraries (libcuda, libnvrtc, libcublasLt) for bun:ffi.
 *
 * Nothing here runs at import: a missing library is reported when it is first needed, with every
 * path that was tried and the environment variable that points at the right file.
 */
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { dlopen, type Library } from "bun:ffi";
import { LibraryNotFoundError } from "../errors.ts";
import { readSettings } from "../env.ts";

/** What to look for. Each binding module (cuda.ts, nvrtc.ts, cublasLt.ts) builds one. */
export interface LibrarySpec {
  /** Human name for messages, e.g. "libcuda (CUDA driver API)". */
  label: string;
  /** The variable a user sets to point at the file, e.g. "BUNGEMM_LIBCUDA". */
  envVar: string;
  /** Its value (read through env.ts by the caller); when set, it is the only candidate. */
  override: string | undefined;
  /** File names in preference order, e.g. ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]. */
  sonames: string[];
  /** Folders under each CUDA root to search, e.g. ["lib64", "lib", "targets/x86_64-linux/lib"]. */
  cudaSubdirs: string[];
  /** Also search pip wheels (`site-packages/nvidia/<pkg>/lib`, `torch/lib`): where PyTorch machines keep NVRTC and cuBLASLt. */
  pythonPackages?: boolean;
  /** CUDA install root to search first; defaults to CUDA_HOME / CUDA_PATH from env.ts. */
  cudaHome?: string | undefined;
}

// NOTES: driver libraries live in the distribution's lib folder, not under the toolkit; WSL2 puts
// libcuda in /usr/lib/wsl/lib. The toolkit's lib64/stubs/libcuda.so is never searched: it loads
// but every call fails, which is a worse error than "not found".
const SYSTEM_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib"];
const PYTHON_LIB_PARENTS = ["/usr/local/lib", "/usr/lib", "/opt/torch/.venv/lib"];

/**
 * Candidate paths in the order they are tried. An override is authoritative: when the user names
 * a file, loading some other copy behind their back would hide the mistake, so it is the only one.
 * Bare sonames go to the dynamic loader (LD_LIBRARY_PATH, ldconfig cache); then CUDA roots
 * ($CUDA_HOME, /usr/local/cuda, /usr/local/cuda-* newest first), system folders and, when asked,
 * Python wheels.
 */
export function resolveLibrary(spec: LibrarySpec): string[] {
  if (spec.override !== undefined && spec.override !== "") return [spec.override];
  const dirs: string[] = [];
  const cudaHome = "cudaHome" in spec ? spec.cudaHome : readSettings().cudaHome;
  // /usr/local/cuda is usually a link to one of /usr/local/cuda-*: search each real folder once.
  const roots = uniqueRealPaths([...(cudaHome ? [cudaHome] : []), "/usr/local/cuda", ...versionedCudaRoots()]);
  for (const root of roots) {
    for (const sub of spec.cudaSubdirs) dirs.push(join(root, sub));
  }
  dirs.push(...SYSTEM_DIRS);
  if (spec.pythonPackages) dirs.push(...pythonLibDirs());
  const candidates = [...spec.sonames];
  for (const dir of dirs) for (const soname of spec.sonames) candidates.push(join(dir, soname));
  return [...new Set(candidates)];
}

/** Where each library returned by `openLibrary` was found, for diagnostics and version reports. */
const openedFrom = new WeakMap<object, string>();

/**
 * Opens the first candidate of `resolveLibrary(spec)` that loads with every symbol in `symbols`.
 * @throws LibraryNotFoundError listing each candidate with the reason it failed, and naming `spec.envVar`.
 */
export function openLibrary<Fns extends Parameters<typeof dlopen>[1]>(spec: LibrarySpec, symbols: Fns): Library<Fns> {
  const tried: string[] = [];
  for (const candidate of resolveLibrary(spec)) {
    // Skip the dlopen for absolute paths that do not exist: its message would only say so, slower.
    if (isAbsolute(candidate) && !existsSync(candidate)) {
      tried.push(`${candidate} (no such file)`);
      continue;
    }
    try {
      const lib = dlopen(candidate, symbols);
      openedFrom.set(lib, candidate);
      return lib;
    } catch (error) {
      // Not swallowed: the reason (wrong architecture, missing symbol = too old a version) goes into the error.
      tried.push(`${candidate} (${failureReason(candidate, error)})`);
    }
  }
  const hint =
    spec.override !== undefined && spec.override !== ""
      ? `${spec.envVar}=${spec.override} did not load; point it at a working ${spec.sonames[0] ?? spec.label}, or unset it to search the usual places.`
      : `Set ${spec.envVar} to the full path of ${spec.sonames[0] ?? spec.label} (or CUDA_HOME to the CUDA install root).`;
  throw new LibraryNotFoundError(spec.label, tried, hint);
}

/**
 * Why a candidate failed, in words. For a bare soname Bun reports the path it tried relative to
 * the calling file before asking the loader, which would mislead; say what really happened.
 */
function failureReason(candidate: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!isAbsolute(candidate) && message.includes("cannot open shared object file")) {
    return "not found by the dynamic loader (LD_LIBRARY_PATH, ldconfig cache)";
  }
  return message;
}

/** The path `lib` was opened from, when it came from `openLibrary`. */
export function libraryPath(lib: object): string | undefined {
  return openedFrom.get(lib);
}

/** /usr/local/cuda-13.0, /usr/local/cuda-12.8, …: newest version first, so the freshest toolkit wins. */
function versionedCudaRoots(): string[] {
  const names = listDir("/usr/local").filter((name) => /^cuda-\d+(\.\d+)*$/.test(name));
  const version = (name: string): number[] => name.slice("cuda-".length).split(".").map(Number);
  names.sort((a, b) => compareVersions(version(b), version(a)));
  return names.map((name) => join("/usr/local", name));
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** `<parent>/python3*\/{site,dist}-packages/{nvidia/*\/lib, torch/lib}` that exist. */
function pythonLibDirs(): string[] {
  const dirs: string[] = [];
  for (const parent of PYTHON_LIB_PARENTS) {
    for (const py of listDir(parent).filter((name) => /^python3(\.\d+)?$/.test(name)).sort().reverse()) {
      for (const packages of ["site-packages", "dist-packages"]) {
        const site = join(parent, py, packages);
        for (const pkg of listDir(join(site, "nvidia")).sort()) dirs.push(join(site, "nvidia", pkg, "lib"));
        if (existsSync(join(site, "torch", "lib"))) dirs.push(join(site, "torch", "lib"));
      }
    }
  }
  return dirs;
}

function uniqueRealPaths(paths: string[]): string[] {
  const seen = new Set<string>();
  return paths.filter((path) => {
    const real = existsSync(path) ? realpathSync(path) : path;
    if (seen.has(real)) return false;
    seen.add(real);
    return true;
  });
}

/** Folder entries, or none when the folder is absent or unreadable (a search path, not a requirement). */
function listDir(dir: string): string[] {
  if (!existsSync(dir)) return [];
  try {
    return readdirSync(dir);
  } catch {
    // An unreadable folder is a place the library cannot be; the final error lists what was tried.
    return [];
  }
}
