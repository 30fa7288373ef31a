/** Which kernel compilers this machine has, for tests that skip (saying why) without one. */
import { readSettings } from "../../src/env.ts";
import { LibraryNotFoundError } from "../../src/errors.ts";
import { locateNvcc } from "../../src/jit/nvccCompiler.ts";

/** The nvcc executable, or undefined where none is found (any other failure propagates). */
export function nvccPath(): string | undefined {
  try {
    return locateNvcc(readSettings());
  } catch (error) {
    if (error instanceof LibraryNotFoundError) return undefined;
    throw error;
  }
}
