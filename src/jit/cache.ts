/**
 * The on-disk kernel cache: one file per compiled configuration, named by a sha256 key over
 * everything that can change the cubin (see `CacheKeyParts`).
 *
 * Entry file layout (little-endian):
 *
 *     offset  size  field
 *          0     8  magic "BGMMCBIN"
 *          8     4  format version (1)
 *         12     4  header size (56)
 *         16     8  payload size in bytes
 *         24    32  sha256 of the payload
 *         56     …  payload (the cubin)
 *
 * Writers write a uniquely named temp file in the same folder and `rename` it over the entry;
 * rename is atomic within a file system, so a reader sees the old entry, no entry, or the whole
 * new one, never a partial one, and two processes filling one key at once both end with a valid
 * entry (the last rename wins; both wrote the same bytes). Anything a crash or a full disk could
 * still leave behind (a short file, flipped bits) fails the size or hash check, is deleted, and
 * the caller recompiles.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import type { CompilerBackend } from "./compiler.ts";
import { compareByPath, type IncludeFile } from "./includeTree.ts";

const MAGIC = new TextEncoder().encode("BGMMCBIN");
const FORMAT_VERSION = 1;
const HEADER_BYTES = 56;
/** Bump when the meaning of the key changes, so old entries are never picked up by mistake. */
const KEY_SCHEMA = "bungemm-kernel-key-v1";
const KEY_PATTERN = /^[0-9a-f]{64}$/;
/** A temp file this old was left by a process that died mid-write (a live write takes well under a second). */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Everything that can change the compiled cubin. */
export interface CacheKeyParts {
  /** The generated translation unit. */
  source: string;
  /** Every file under the include folders (path relative to its folder, and bytes), see `readIncludeTree`. */
  includeFiles: readonly IncludeFile[];
  /** The compiler options, with include folders written position-independently. */
  options: readonly string[];
  backend: CompilerBackend;
  compilerVersion: string;
  arch: string;
}

/** What `lookup` found for a key. A corrupt entry has already been deleted when this returns. */
export type CacheLookup =
  | { status: "hit"; cubin: Uint8Array }
  | { status: "missing" }
  | { status: "corrupt"; reason: string };

export class KernelCache {
  /** `dir` is created on the first `put`; nothing touches the disk before. */
  constructor(readonly dir: string) {}

  /** The sha256 hex key of `parts`. Every field is length-prefixed, so no two inputs collide by concatenation. */
  key(parts: CacheKeyParts): string {
    const hasher = new Bun.CryptoHasher("sha256");
    const field = (tag: string, value: string | Uint8Array): void => {
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
      hasher.update(`${tag}:${bytes.byteLength}:`);
      hasher.update(bytes);
    };
    field("schema", KEY_SCHEMA);
    field("backend", parts.backend);
    field("version", parts.compilerVersion);
    field("arch", parts.arch);
    field("options", JSON.stringify(parts.options));
    field("source", parts.source);
    // Sorted here as well, so the key does not depend on the order the caller listed files in.
    const files = [...parts.includeFiles].sort(compareByPath);
    field("files", String(files.length));
    for (const file of files) {
      field("path", file.path);
      field("bytes", file.bytes);
    }
    return hasher.digest("hex");
  }

  /** The cubin stored under `key`, or undefined when there is none or it was corrupt (then deleted). */
  get(key: string): Uint8Array | undefined {
    const found = this.lookup(key);
    return found.status === "hit" ? found.cubin : undefined;
  }

  /** Like `get`, but says why nothing came back. */
  lookup(key: string): CacheLookup {
    const path = this.entryPath(key);
    let file: Uint8Array;
    try {
      file = new Uint8Array(readFileSync(path));
    } catch (error) {
      if (isErrno(error, "ENOENT")) return { status: "missing" };
      throw error;
    }
    const reason = checkEntry(file);
    if (reason === undefined) return { status: "hit", cubin: file.subarray(HEADER_BYTES) };
    removeIfPresent(path);
    return { status: "corrupt", reason };
  }

  /** Stores `cubin` under `key` atomically (temp file in the same folder, then rename). */
  put(key: string, cubin: Uint8Array): void {
    const path = this.entryPath(key);
    mkdirSync(this.dir, { recursive: true });
    const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
    const temp = join(this.dir, `.${key}.${process.pid}.${suffix}.tmp`);
    try {
      // "wx": never write through a file some other process created under the same name.
      writeFileSync(temp, encodeEntry(cubin), { flag: "wx" });
      renameSync(temp, path);
    } catch (error) {
      removeIfPresent(temp);
      throw error;
    }
    pruneStaleTemps(this.dir);
  }

  /** The entry's file path. @throws InvalidArgumentError if `key` is not a key from `key()`. */
  entryPath(key: string): string {
    if (!KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError("key", "a cache key is 64 lowercase hex digits (from KernelCache.key)", key);
    }
    return join(this.dir, `${key}.cubin`);
  }
}

function encodeEntry(payload: Uint8Array): Uint8Array {
  const file = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(file.buffer);
  file.set(MAGIC, 0);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, HEADER_BYTES, true);
  view.setBigUint64(16, BigInt(payload.byteLength), true);
  file.set(sha256(payload), 24);
  file.set(payload, HEADER_BYTES);
  return file;
}

/** Returns why `file` is not a valid entry, or undefined when it is. */
function checkEntry(file: Uint8Array): string | undefined {
  if (file.byteLength < HEADER_BYTES) return `file is ${file.byteLength} bytes, shorter than the ${HEADER_BYTES}-byte header`;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (!MAGIC.every((byte, i) => file[i] === byte)) return "bad magic";
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) return `format version ${version}, expected ${FORMAT_VERSION}`;
  if (view.getUint32(12, true) !== HEADER_BYTES) return "bad header size";
  const length = view.getBigUint64(16, true);
  const actual = BigInt(file.byteLength - HEADER_BYTES);
  if (length !== actual) return `payload is ${actual} bytes, header says ${length}`;
  const expected = file.subarray(24, 56);
  const digest = sha256(file.subarray(HEADER_BYTES));
  if (!digest.every((byte, i) => expected[i] === byte)) return "payload sha256 mismatch";
  return undefined;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(bytes).digest());
}

/** Removes temp files of writers that died before their rename; young ones may be another process's write in progress. */
function pruneStaleTemps(dir: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(".") || !name.endsWith(".tmp")) continue;
    const path = join(dir, name);
    let modified: number;
    try {
      modified = statSync(path).mtimeMs;
    } catch (error) {
      if (isErrno(error, "ENOENT")) continue; // renamed or pruned by its owner meanwhile
      throw error;
    }
    if (now - modified > STALE_TEMP_MS) removeIfPresent(path);
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    // Another process may have removed or replaced it first; only a missing file is expected.
    if (!isErrno(error, "ENOENT")) throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
