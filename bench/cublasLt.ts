/**
 * cuBLASLt through bun:ffi: the baseline the benchmark compares against (never used by the library).
 *
 * Our product is row-major D[M,N] = A[M,K] · B[N,K]ᵀ. cuBLASLt is column-major, and a row-major
 * [R,C] matrix is the same bytes as a column-major [C,R] one, so we ask cuBLASLt for
 *
 *     D_cm[N,M] = op(B_cm[K,N]) · A_cm[K,M]     with op = transpose ("TN", the FP8 layout it requires)
 *
 * i.e. cuBLASLt's m, n, k are our N, M, K; its "A" is our weights B and its "B" our activations A.
 *
 * Two plans per shape:
 * - "unit": plain FP8, no scale pointers (scale 1), fast accumulation off (cuBLASLt's default).
 * - "block": the DeepSeek scaling of DESIGN §1 (cuBLAS ≥ 12.9, Hopper). Weights (cuBLASLt's A) use
 *   CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, activations (its B) use
 *   CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F. Scale layouts cuBLASLt requires (cuBLAS docs
 *   §3.1.4.5.1 "Scaling factors layouts"; start addresses 16-byte aligned; its M and N, our N and
 *   M, multiples of 4):
 *     · VEC128 on its B: "N-major", shape [its N × L] with its N contiguous, L = ceil(K/128). That
 *       is [L][M] with our M contiguous: exactly our TMA-aligned A-scale layout [L][M_pad], since
 *       M_pad = M when M is a multiple of 4.
 *     · BLK128x128 on its A: "K-major", stride between columns a multiple of 4: [ceil(N/128)][L₄]
 *       with L₄ = L rounded up to 4. Our B-scale layout is [ceil(N/128)][L]; `toCublasLtBlockScales`
 *       re-pads rows (the identity whenever L is a multiple of 4, as for every DeepSeek-V3 shape).
 * A plan that cuBLASLt refuses (old library, shape rule, no heuristic) comes back as
 * `{ ok: false, reason }`, and the benchmark records it as unsupported instead of failing.
 */
import { CString, FFIType, type Library } from "bun:ffi";
import { readSettings } from "../src/env.ts";
import { BungemmError } from "../src/errors.ts";
import { libraryPath, openLibrary, type LibrarySpec } from "../src/ffi/library.ts";
import type { Device } from "../src/runtime/device.ts";
import { DeviceBuffer } from "../src/runtime/memory.ts";

const { i32, i64, u64, ptr: P, cstring } = FFIType;
const H = u64; // opaque handle or device pointer
// Host buffers (out-parameters, attribute values, alpha/beta, the algo) go in as typed arrays,
// which bun:ffi passes as pointers to their bytes.

/** The libcublasLt symbols the benchmark calls (exported for the FFI test against a mock library). */
export const cublasLtSymbols = {
  cublasLtCreate: { args: [P], returns: i32 },
  cublasLtDestroy: { args: [H], returns: i32 },
  cublasLtGetVersion: { args: [], returns: u64 },
  cublasLtGetStatusName: { args: [i32], returns: cstring },
  cublasLtMatmulDescCreate: { args: [P, i32, i32], returns: i32 },
  cublasLtMatmulDescDestroy: { args: [H], returns: i32 },
  cublasLtMatmulDescSetAttribute: { args: [H, i32, P, u64], returns: i32 },
  cublasLtMatrixLayoutCreate: { args: [P, i32, u64, u64, i64], returns: i32 },
  cublasLtMatrixLayoutDestroy: { args: [H], returns: i32 },
  cublasLtMatmulPreferenceCreate: { args: [P], returns: i32 },
  cublasLtMatmulPreferenceDestroy: { args: [H], returns: i32 },
  cublasLtMatmulPreferenceSetAttribute: { args: [H, i32, P, u64], returns: i32 },
  // handle, desc, Adesc, Bdesc, Cdesc, Ddesc, preference, requested, results*, returned*
  cublasLtMatmulAlgoGetHeuristic: { args: [H, H, H, H, H, H, H, i32, P, P], returns: i32 },
  // handle, desc, alpha*, A, Adesc, B, Bdesc, beta*, C, Cdesc, D, Ddesc, algo*, workspace, workspaceBytes, stream
  cublasLtMatmul: { args: [H, H, P, H, H, H, H, P, H, H, H, H, P, H, u64, H], returns: i32 },
} as const;

export type CublasLtSymbols = Library<typeof cublasLtSymbols>["symbols"];

/** Enum values from cublasLt.h / library_types.h (CUDA 12.9 and 13.x; the ABI keeps them fixed). */
export const CublasLtConst = {
  CUBLAS_STATUS_SUCCESS: 0,
  CUBLAS_COMPUTE_32F: 68,
  CUDA_R_32F: 0,
  CUDA_R_16BF: 14,
  CUDA_R_8F_E4M3: 28,
  CUBLAS_OP_N: 0,
  CUBLAS_OP_T: 1,
  CUBLASLT_MATMUL_DESC_TRANSA: 3,
  CUBLASLT_MATMUL_DESC_TRANSB: 4,
  CUBLASLT_MATMUL_DESC_A_SCALE_POINTER: 17,
  CUBLASLT_MATMUL_DESC_B_SCALE_POINTER: 18,
  CUBLASLT_MATMUL_DESC_A_SCALE_MODE: 31,
  CUBLASLT_MATMUL_DESC_B_SCALE_MODE: 32,
  CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F: 4,
  CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F: 5,
  CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: 1,
} as const;

const C = CublasLtConst;

/**
 * cublasLtMatmulHeuristicResult_t: algo (cublasLtMatmulAlgo_t = uint64_t[8], 64 B), size_t
 * workspaceSize, cublasStatus_t state, float wavesCount, int reserved[4].
 */
export const HEURISTIC_RESULT_BYTES = 96;
const HEURISTIC_WORKSPACE_OFFSET = 64;
const HEURISTIC_STATE_OFFSET = 72;

/** 32 MiB: what cuBLAS's own samples and PyTorch give cuBLASLt on Hopper. */
export const CUBLASLT_WORKSPACE_BYTES = 32 * 1024 * 1024;

/** Thrown when a cuBLASLt call fails where failure is not an expected "unsupported". */
export class CublasLtError extends BungemmError {
  override name = "CublasLtError";
  constructor(
    readonly call: string,
    readonly code: number,
    readonly codeName: string,
  ) {
    super(`${call} failed: ${codeName} (${code})`);
  }
}

/** Where libcublasLt is searched: BUNGEMM_LIBCUBLASLT, the loader path, CUDA installs, PyTorch's wheels. */
export function libcublasLtSpec(): LibrarySpec {
  return {
    label: "libcublasLt (cuBLASLt, the benchmark's baseline)",
    envVar: "BUNGEMM_LIBCUBLASLT",
    override: readSettings().libcublasLtPath,
    sonames: ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"],
    cudaSubdirs: ["lib64", "lib", "targets/x86_64-linux/lib"],
    pythonPackages: true,
  };
}

/** Anything with a device address: a Tensor, a DeviceBuffer, a view. */
export interface DeviceAddress {
  readonly ptr: bigint;
}

/** Anything with a CUstream handle: a Stream. */
export interface StreamHandle {
  readonly handle: bigint;
}

export type Fp8Scaling = "unit" | "block";

export type PlanResult = { ok: true; plan: CublasLtFp8Plan } | { ok: false; reason: string };

/** What a plan needs from its handle: the symbols, the handle, the workspace, a current context. */
export interface CublasLtContext {
  readonly lib: CublasLtSymbols;
  readonly handle: bigint;
  readonly workspace: { readonly ptr: bigint; readonly bytes: number };
  /** Makes the handle's device context current. */
  activate(): void;
}

/** A cuBLASLt handle and its workspace on one device. */
export class CublasLt implements CublasLtContext, Disposable {
  private handleValue: bigint;

  private constructor(
    readonly lib: CublasLtSymbols,
    /** The file it was loaded from. */
    readonly path: string,
    readonly device: Device,
    handle: bigint,
    readonly workspace: DeviceBuffer,
  ) {
    this.handleValue = handle;
  }

  /**
   * Loads libcublasLt and creates a handle for `device` (its context current).
   * @throws LibraryNotFoundError listing every path tried; CublasLtError when the handle cannot be made.
   */
  static open(device: Device): CublasLt {
    const library = openLibrary(libcublasLtSpec(), cublasLtSymbols);
    device.activate();
    const out = new BigUint64Array(1);
    const lib = library.symbols;
    check(lib, "cublasLtCreate", lib.cublasLtCreate(out));
    const workspace = DeviceBuffer.alloc(device, CUBLASLT_WORKSPACE_BYTES);
    return new CublasLt(lib, libraryPath(library) ?? "?", device, out[0] ?? 0n, workspace);
  }

  get handle(): bigint {
    if (this.handleValue === 0n) throw new CublasLtError("cublasLt handle", -1, "used after dispose()");
    return this.handleValue;
  }

  activate(): void {
    this.device.activate();
  }

  /** cublasLtGetVersion(), e.g. 130000 for 13.0.0. */
  version(): number {
    return Number(this.lib.cublasLtGetVersion());
  }

  dispose(): void {
    if (this.handleValue === 0n) return;
    this.device.activate();
    check(this.lib, "cublasLtDestroy", this.lib.cublasLtDestroy(this.handleValue));
    this.handleValue = 0n;
    this.workspace.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Shape rules cuBLASLt states for each scaling, checked before asking it (its own refusal says
 * only "not supported"). `undefined` when the shape is acceptable.
 */
export function cublasLtShapeProblem(m: number, n: number, k: number, scaling: Fp8Scaling): string | undefined {
  // FP8 needs 16-byte aligned leading dimensions: ld = K bytes for both inputs, N elements of bf16 for D.
  if (k % 16 !== 0) return `K = ${k} is not a multiple of 16 (FP8 leading dimension)`;
  if (n % 8 !== 0) return `N = ${n} is not a multiple of 8 (bf16 output leading dimension)`;
  if (scaling === "block" && m % 4 !== 0) return `M = ${m} is not a multiple of 4 (block-scaled cuBLASLt requires it)`;
  if (scaling === "block" && n % 4 !== 0) return `N = ${n} is not a multiple of 4 (block-scaled cuBLASLt requires it)`;
  return undefined;
}

/**
 * Our B scales [ceil(N/128)][L] (row-major) in the layout cuBLASLt's BLK128x128 mode reads:
 * [ceil(N/128)][L₄], L₄ = L rounded up to 4, padding zero. Returns the input itself when L is
 * already a multiple of 4.
 */
export function toCublasLtBlockScales(sfb: Float32Array, nBlocks: number, kBlocks: number): Float32Array {
  if (sfb.length !== nBlocks * kBlocks) {
    throw new RangeError(`toCublasLtBlockScales: ${sfb.length} scales for ${nBlocks} x ${kBlocks} blocks`);
  }
  const stride = Math.ceil(kBlocks / 4) * 4;
  if (stride === kBlocks) return sfb;
  const out = new Float32Array(nBlocks * stride);
  for (let nb = 0; nb < nBlocks; nb++) out.set(sfb.subarray(nb * kBlocks, (nb + 1) * kBlocks), nb * stride);
  return out;
}

/**
 * Builds the matmul descriptor, layouts and preference for D[M,N] bf16 = A[M,K]·B[N,K]ᵀ once, and
 * takes the heuristic's first algorithm. Never throws for a configuration cuBLASLt refuses.
 */
export function planCublasLtFp8(lt: CublasLtContext, m: number, n: number, k: number, options: { scaling: Fp8Scaling }): PlanResult {
  const problem = cublasLtShapeProblem(m, n, k, options.scaling);
  if (problem !== undefined) return { ok: false, reason: problem };
  const handles = new PlanHandles(lt.lib);
  try {
    lt.activate();
    const lib = lt.lib;
    const out = new BigUint64Array(1);
    const create = (call: string, status: number): bigint => {
      check(lib, call, status);
      return out[0] ?? 0n;
    };
    handles.desc = create("cublasLtMatmulDescCreate", lib.cublasLtMatmulDescCreate(out, C.CUBLAS_COMPUTE_32F, C.CUDA_R_32F));
    setDescI32(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_TRANSA, C.CUBLAS_OP_T);
    setDescI32(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_TRANSB, C.CUBLAS_OP_N);
    if (options.scaling === "block") {
      setDescI32(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_A_SCALE_MODE, C.CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F);
      setDescI32(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_B_SCALE_MODE, C.CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F);
      // The heuristic checks scale pointers for alignment without reading them; a 16-byte aligned
      // placeholder stands in until run() sets the real ones.
      setDescPointer(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, PLACEHOLDER_POINTER);
      setDescPointer(lib, handles.desc, C.CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, PLACEHOLDER_POINTER);
    }
    // cuBLASLt's view: A = our B as [K rows, N cols], B = our A as [K, M], C = D = [N, M]; all column-major.
    handles.aLayout = create("cublasLtMatrixLayoutCreate", lib.cublasLtMatrixLayoutCreate(out, C.CUDA_R_8F_E4M3, k, n, k));
    handles.bLayout = create("cublasLtMatrixLayoutCreate", lib.cublasLtMatrixLayoutCreate(out, C.CUDA_R_8F_E4M3, k, m, k));
    handles.dLayout = create("cublasLtMatrixLayoutCreate", lib.cublasLtMatrixLayoutCreate(out, C.CUDA_R_16BF, n, m, n));
    handles.preference = create("cublasLtMatmulPreferenceCreate", lib.cublasLtMatmulPreferenceCreate(out));
    const workspaceBytes = new BigUint64Array([BigInt(lt.workspace.bytes)]);
    check(
      lib,
      "cublasLtMatmulPreferenceSetAttribute",
      lib.cublasLtMatmulPreferenceSetAttribute(handles.preference, C.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspaceBytes, 8),
    );
    const heuristic = new Uint8Array(HEURISTIC_RESULT_BYTES);
    const returned = new Int32Array(1);
    check(
      lib,
      "cublasLtMatmulAlgoGetHeuristic",
      lib.cublasLtMatmulAlgoGetHeuristic(
        lt.handle,
        handles.desc,
        handles.aLayout,
        handles.bLayout,
        handles.dLayout,
        handles.dLayout,
        handles.preference,
        1,
        heuristic,
        returned,
      ),
    );
    const view = new DataView(heuristic.buffer);
    if ((returned[0] ?? 0) < 1) return fail(handles, `cublasLtMatmulAlgoGetHeuristic found no algorithm for ${options.scaling} FP8`);
    const state = view.getInt32(HEURISTIC_STATE_OFFSET, true);
    if (state !== C.CUBLAS_STATUS_SUCCESS) return fail(handles, `heuristic result state ${statusName(lib, state)}`);
    const algoWorkspace = Number(view.getBigUint64(HEURISTIC_WORKSPACE_OFFSET, true));
    const plan = new CublasLtFp8Plan(lt, handles, heuristic, { m, n, k, scaling: options.scaling, algoWorkspace });
    return { ok: true, plan };
  } catch (error) {
    if (error instanceof CublasLtError) return fail(handles, error.message);
    handles.destroy();
    throw error;
  }
}

function fail(handles: PlanHandles, reason: string): { ok: false; reason: string } {
  handles.destroy();
  return { ok: false, reason };
}

/** One planned cuBLASLt FP8 product; `run` only sets scale pointers (when they change) and launches. */
export class CublasLtFp8Plan implements Disposable {
  // Host memory the launch reads: built once, so a timed call allocates nothing.
  private readonly alpha = new Float32Array([1]);
  private readonly beta = new Float32Array([0]);
  private sfaPtr = 0n;
  private sfbPtr = 0n;

  constructor(
    private readonly lt: CublasLtContext,
    private readonly handles: PlanHandles,
    /** The heuristic result; its first 64 bytes are the cublasLtMatmulAlgo_t passed to every call. */
    private readonly algo: Uint8Array,
    readonly info: { m: number; n: number; k: number; scaling: Fp8Scaling; algoWorkspace: number },
  ) {}

  /**
   * Queues D[M,N] (bf16, row-major) = A[M,K] · B[N,K]ᵀ (e4m3, row-major) on `stream`.
   * For "block", `sfa` is the TMA-aligned A-scale layout [L][M] and `sfb` the B scales in
   * `toCublasLtBlockScales` layout; both are ignored for "unit".
   * @throws CublasLtError when cuBLASLt refuses the call.
   */
  run(a: DeviceAddress, b: DeviceAddress, d: DeviceAddress, sfa: DeviceAddress | undefined, sfb: DeviceAddress | undefined, stream: StreamHandle): void {
    const lib = this.lt.lib;
    const h = this.handles;
    if (this.info.scaling === "block") {
      if (sfa === undefined || sfb === undefined) throw new CublasLtError("CublasLtFp8Plan.run", -1, "block scaling needs sfa and sfb");
      // Its A is our B (weights), its B our A (activations): the scale pointers swap accordingly.
      if (sfb.ptr !== this.sfbPtr) {
        setDescPointer(lib, h.desc, C.CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, sfb.ptr);
        this.sfbPtr = sfb.ptr;
      }
      if (sfa.ptr !== this.sfaPtr) {
        setDescPointer(lib, h.desc, C.CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, sfa.ptr);
        this.sfaPtr = sfa.ptr;
      }
    }
    check(
      lib,
      "cublasLtMatmul",
      lib.cublasLtMatmul(
        this.lt.handle,
        h.desc,
        this.alpha,
        b.ptr,
        h.aLayout,
        a.ptr,
        h.bLayout,
        this.beta,
        d.ptr,
        h.dLayout,
        d.ptr,
        h.dLayout,
        this.algo,
        this.lt.workspace.ptr,
        BigInt(this.lt.workspace.bytes),
        stream.handle,
      ),
    );
  }

  dispose(): void {
    this.handles.destroy();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

const PLACEHOLDER_POINTER = 256n;

/** The descriptors one plan owns; destroyed together, each at most once. */
class PlanHandles {
  desc = 0n;
  aLayout = 0n;
  bLayout = 0n;
  dLayout = 0n;
  preference = 0n;

  constructor(private readonly lib: CublasLtSymbols) {}

  destroy(): void {
    // Errors here are ignored on purpose: destroy runs on failure paths, where the first error is the one to report.
    if (this.preference) this.lib.cublasLtMatmulPreferenceDestroy(this.preference);
    for (const layout of [this.aLayout, this.bLayout, this.dLayout]) if (layout) this.lib.cublasLtMatrixLayoutDestroy(layout);
    if (this.desc) this.lib.cublasLtMatmulDescDestroy(this.desc);
    this.desc = this.aLayout = this.bLayout = this.dLayout = this.preference = 0n;
  }
}

function setDescI32(lib: CublasLtSymbols, desc: bigint, attribute: number, value: number): void {
  const buf = new Int32Array([value]);
  check(lib, "cublasLtMatmulDescSetAttribute", lib.cublasLtMatmulDescSetAttribute(desc, attribute, buf, 4));
}

function setDescPointer(lib: CublasLtSymbols, desc: bigint, attribute: number, value: bigint): void {
  const buf = new BigUint64Array([value]);
  check(lib, "cublasLtMatmulDescSetAttribute", lib.cublasLtMatmulDescSetAttribute(desc, attribute, buf, 8));
}

function statusName(lib: CublasLtSymbols, status: number): string {
  const name: unknown = lib.cublasLtGetStatusName(status);
  return name instanceof CString || typeof name === "string" ? String(name) : `status ${status}`;
}

function check(lib: CublasLtSymbols, call: string, status: number): void {
  if (status !== C.CUBLAS_STATUS_SUCCESS) throw new CublasLtError(call, status, statusName(lib, status));
}
