/**
 * Every error bungemm throws. Each class carries structured fields (the rule, the value, the call,
 * the code) and a readable message computed from them, so callers can branch on `instanceof` and
 * on fields rather than parse text.
 */

/** Base class of every error this library throws. */
export class BungemmError extends Error {
  override name = "BungemmError";
}

/**
 * Thrown when a CUDA driver API call returns anything but CUDA_SUCCESS.
 * `call` is the driver function, `code` the numeric CUresult, `codeName`/`description` come from
 * `cuGetErrorName`/`cuGetErrorString` when the driver could tell.
 */
export class CudaError extends BungemmError {
  override name = "CudaError";
  constructor(
    readonly call: string,
    readonly code: number,
    readonly codeName: string,
    readonly description: string,
  ) {
    super(`${call} failed: ${codeName} (${code}): ${description}`);
  }
}

/** Thrown when an NVRTC call fails; `log` holds the compiler's log when there is one. */
export class NvrtcError extends BungemmError {
  override name = "NvrtcError";
  constructor(
    readonly call: string,
    readonly code: number,
    readonly codeName: string,
    readonly log: string = "",
  ) {
    super(`${call} failed: ${codeName} (${code})${log ? `\n--- compile log ---\n${log}` : ""}`);
  }
}

/** Thrown when a kernel source does not compile (NVRTC or NVCC); carries the full log. */
export class CompileError extends BungemmError {
  override name = "CompileError";
  constructor(
    readonly backend: "nvrtc" | "nvcc",
    readonly kernelName: string,
    readonly log: string,
    options?: { cause?: unknown },
  ) {
    super(`${backend} could not compile ${kernelName}:\n${log}`, options);
  }
}

/**
 * Thrown at first use when a native library (libcuda, libnvrtc, libcublasLt) or a tool (nvcc)
 * cannot be found. `tried` lists every path attempted; `hint` says which variable points at it.
 */
export class LibraryNotFoundError extends BungemmError {
  override name = "LibraryNotFoundError";
  constructor(
    readonly library: string,
    readonly tried: readonly string[],
    readonly hint: string,
  ) {
    super(`could not load ${library}; tried:\n  ${tried.join("\n  ")}\n${hint}`);
  }
}

/**
 * Thrown before any launch when an argument breaks a rule of the API (dtype, shape, stride,
 * alignment, scale layout, device, disposed buffer). `rule` names the rule, `value` is what was
 * given, `argument` says which argument.
 */
export class InvalidArgumentError extends BungemmError {
  override name = "InvalidArgumentError";
  constructor(
    readonly argument: string,
    readonly rule: string,
    readonly value: unknown,
  ) {
    super(`${argument}: ${rule} (got ${formatValue(value)})`);
  }
}

/** Thrown when a tensor is used after `dispose()`. */
export class DisposedError extends BungemmError {
  override name = "DisposedError";
  constructor(readonly what: string) {
    super(`${what} was used after dispose()`);
  }
}

/** Thrown by opt-in debug checks when device-side data (mIndices, maskedM) holds values out of range. */
export class DeviceDataError extends BungemmError {
  override name = "DeviceDataError";
  constructor(
    readonly argument: string,
    readonly rule: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`${argument}[${index}] = ${value}: ${rule}`);
  }
}

function formatValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  if (typeof value === "string") return JSON.stringify(value);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    try {
      return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
    } catch {
      // A cyclic object: fall through to its default description.
    }
  }
  return String(value);
}
