/** Where the package's CUDA headers live, found relative to this file so it works from any install. */
import { resolve } from "node:path";

/** Absolute path of the package's `cuda/` folder (the include root of every generated kernel). */
export function cudaDir(): string {
  return resolve(import.meta.dir, "..", "..", "cuda");
}
