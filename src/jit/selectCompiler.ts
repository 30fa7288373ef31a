/** Picks the compiler backend from BUNGEMM_COMPILER: nvrtc, nvcc, or auto (NVRTC if it loads, else nvcc). */
import { readSettings, type Settings } from "../env.ts";
import { LibraryNotFoundError } from "../errors.ts";
import { nvrtc } from "../ffi/nvrtc.ts";
import type { Compiler } from "./compiler.ts";
import { locateNvcc, NvccCompiler } from "./nvccCompiler.ts";
import { NvrtcCompiler } from "./nvrtcCompiler.ts";

/**
 * Returns the compiler the settings ask for.
 * @throws LibraryNotFoundError when the chosen backend (for auto: both) cannot be found. With
 *   BUNGEMM_COMPILER=nvrtc a missing libnvrtc is reported at the first compile instead.
 */
export function selectCompiler(settings: Settings = readSettings()): Compiler {
  switch (settings.compiler) {
    case "nvrtc":
      return new NvrtcCompiler();
    case "nvcc":
      return new NvccCompiler(locateNvcc(settings));
    case "auto":
      return selectAuto(settings);
  }
}

function selectAuto(settings: Settings): Compiler {
  let nvrtcMissing: LibraryNotFoundError;
  try {
    nvrtc();
    return new NvrtcCompiler();
  } catch (error) {
    // Only "not found" falls back; a libnvrtc that is there but broken must be reported as such.
    if (!(error instanceof LibraryNotFoundError)) throw error;
    nvrtcMissing = error;
  }
  try {
    return new NvccCompiler(locateNvcc(settings));
  } catch (error) {
    if (!(error instanceof LibraryNotFoundError)) throw error;
    throw new LibraryNotFoundError(
      "a kernel compiler (libnvrtc, else nvcc)",
      [...nvrtcMissing.tried, ...error.tried],
      `${nvrtcMissing.hint}\n${error.hint}`,
    );
  }
}
