/**
 * The NVRTC backend: compiles in-process straight to a cubin for a real architecture, so loading
 * it involves no PTX JIT in the driver.
 */
import { ptr } from "bun:ffi";
import { CompileError, NvrtcError } from "../errors.ts";
import { checkNvrtc, nvrtc, NvrtcResult, type Nvrtc } from "../ffi/nvrtc.ts";
import { commonOptions, type CompileRequest, type CompileResult, type Compiler } from "./compiler.ts";

/** Option strings whose pointers are in NVRTC's hands; held here so nothing can collect them mid-call. */
let pinnedOptions: Uint8Array[] = [];

export class NvrtcCompiler implements Compiler {
  readonly backend = "nvrtc" as const;
  #version: string | undefined;

  /** "major.minor" of the loaded libnvrtc (e.g. "13.0"). Loads the library on first use. */
  version(): string {
    if (this.#version === undefined) {
      const major = new Int32Array(1);
      const minor = new Int32Array(1);
      checkNvrtc("nvrtcVersion", nvrtc().nvrtcVersion(major, minor));
      this.#version = `${major[0]}.${minor[0]}`;
    }
    return this.#version;
  }

  options(req: CompileRequest): string[] {
    // A real `sm_` target makes NVRTC emit SASS (nvrtcGetCUBIN works; a compute_ target gives PTX only).
    // -default-device: unannotated helpers are device code, as headers without host code expect.
    return [`--gpu-architecture=${req.arch}`, "-default-device", ...commonOptions(req)];
  }

  /** @throws LibraryNotFoundError at the first use when libnvrtc is missing; CompileError with the log. */
  compile(req: CompileRequest): CompileResult {
    const lib = nvrtc();
    const start = performance.now();
    const handleOut = new BigUint64Array(1);
    checkNvrtc("nvrtcCreateProgram", lib.nvrtcCreateProgram(handleOut, cString(req.source), cString(`${req.kernelName}.cu`), 0, null, null));
    const program = handleOut[0] as bigint;
    try {
      const options = this.options(req);
      pinnedOptions = options.map(cString);
      const optionPointers = new BigUint64Array(pinnedOptions.map((option) => BigInt(ptr(option))));
      const result = lib.nvrtcCompileProgram(program, options.length, optionPointers);
      pinnedOptions = [];
      const log = readLog(lib, program);
      if (result === NvrtcResult.NVRTC_ERROR_COMPILATION) {
        const cause = new NvrtcError("nvrtcCompileProgram", result, "NVRTC_ERROR_COMPILATION", log);
        throw new CompileError("nvrtc", req.kernelName, log, { cause });
      }
      checkNvrtc("nvrtcCompileProgram", result, log);
      return { cubin: readCubin(lib, program), log, ms: performance.now() - start };
    } finally {
      pinnedOptions = [];
      handleOut[0] = program;
      checkNvrtc("nvrtcDestroyProgram", lib.nvrtcDestroyProgram(handleOut));
    }
  }
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

function readLog(lib: Nvrtc, program: bigint): string {
  const size = new BigUint64Array(1);
  checkNvrtc("nvrtcGetProgramLogSize", lib.nvrtcGetProgramLogSize(program, size));
  const bytes = new Uint8Array(Number(size[0]));
  if (bytes.byteLength <= 1) return ""; // just the terminating NUL
  checkNvrtc("nvrtcGetProgramLog", lib.nvrtcGetProgramLog(program, bytes));
  return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0) === -1 ? undefined : bytes.indexOf(0)));
}

function readCubin(lib: Nvrtc, program: bigint): Uint8Array {
  const size = new BigUint64Array(1);
  checkNvrtc("nvrtcGetCUBINSize", lib.nvrtcGetCUBINSize(program, size));
  const cubin = new Uint8Array(Number(size[0]));
  // Size 0 means the target was virtual (PTX only); loading that as a cubin would fail obscurely later.
  if (cubin.byteLength === 0) throw new NvrtcError("nvrtcGetCUBINSize", 0, "empty cubin (virtual architecture?)");
  checkNvrtc("nvrtcGetCUBIN", lib.nvrtcGetCUBIN(program, cubin));
  return cubin;
}
