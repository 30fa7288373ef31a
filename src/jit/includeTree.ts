/**
 * Reads every file under the include folders for the cache key. Read on each cache lookup (not
 * memoised), so editing a header under `cuda/` during development invalidates the right kernels.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface IncludeFile {
  /** `<folder index>:<path relative to the folder>`, so the key does not depend on where the package lives. */
  path: string;
  bytes: Uint8Array;
}

/** All regular files under `dirs`, sorted by path. A folder that does not exist contributes nothing. */
export function readIncludeTree(dirs: readonly string[]): IncludeFile[] {
  const files: IncludeFile[] = [];
  dirs.forEach((dir, index) => {
    for (const relative of listFiles(dir)) {
      files.push({ path: `${index}:${relative}`, bytes: new Uint8Array(readFileSync(join(dir, relative))) });
    }
  });
  return files.sort(compareByPath);
}

function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch (error) {
    if (error instanceof Error && (error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  // Forward slashes, so the key is the same whichever separator readdir used.
  return entries.filter((relative) => isFile(join(dir, relative))).map((relative) => relative.split("\\").join("/"));
}

function isFile(path: string): boolean {
  return statSync(path).isFile();
}

/** Orders include files by path (code-unit order, independent of locale). */
export function compareByPath(a: IncludeFile, b: IncludeFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
