/** Tensor and the quantization API's argument checks against the fake libcuda (no GPU needed). */
import { beforeAll, describe, expect, test } from "bun:test";
import { cCompiler, runAgainstFakeDriver } from "../support/fakeDriver.ts";

if (cCompiler === undefined) console.warn("skipping Tensor fake-driver tests: no C compiler");

describe.skipIf(cCompiler === undefined)("Tensor against a fake libcuda", () => {
  let r: Record<string, unknown>;

  beforeAll(() => {
    r = runAgainstFakeDriver("tensorFakeDriverRun.ts");
  });

  test("fromHost/toHost round trip and metadata", () => {
    expect(r.roundTrip).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(r.meta).toEqual({ numel: 12, strides: [4, 1], bytes: 48, contiguous: true, ptrIsBuffer: true });
    expect(r.bf16).toEqual([0x3f80, 0xc000]);
  });

  test("views: transposed gather, byte offsets, bounds and alignment", () => {
    expect(r.transposed).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(r.transposedContiguous).toBe(false);
    expect(r.row1).toEqual([4, 5, 6, 7]);
    expect(r.row1Offset).toBe(16);
    expect(r.outside).toMatch(/^InvalidArgumentError: view: must end within the 48-byte buffer/);
    expect(r.misaligned).toMatch(/^InvalidArgumentError: byteOffset: .*multiple of 4/);
  });

  test("fromHost refuses the wrong array type or length", () => {
    expect(r.wrongType).toMatch(/^InvalidArgumentError: data: a f32 tensor is filled from a Float32Array \(got "Uint16Array"\)/);
    expect(r.wrongLength).toMatch(/^InvalidArgumentError: data: length must equal .* = 12 \(got 11\)/);
  });

  test("emptyStrided allocates the padding it is asked for", () => {
    expect(r.strided).toEqual({ bytes: 52, bufferBytes: 64, contiguous: false });
    expect(r.tooSmall).toMatch(/^InvalidArgumentError: allocElements/);
  });

  test("quantization refuses bad tensors before any kernel is touched", () => {
    expect(r.unalignedX).toMatch(/^InvalidArgumentError: x: device address must be 16-byte aligned/);
    expect(r.badStride).toMatch(/^InvalidArgumentError: x: the row stride must be a multiple of 16 bytes \(got 264\)/);
    expect(r.wrongShape).toMatch(/^InvalidArgumentError: x: shape must be \[4, 128\] \(got \[4, 144\]\)/);
    expect(r.badOption).toMatch(/^InvalidArgumentError: quantizePerToken: options.stream: must be a Stream/);
    expect(r.wrongScales).toMatch(/^InvalidArgumentError: scales: shape must be \[1, 1\] \(got \[2, 1\]\)/);
  });

  test("dispose: views free nothing, owners free once, freed memory is never handed out", () => {
    expect(r.afterViewDispose).toBe(12);
    expect(r.viewAfterOwnerDispose).toMatch(/^DisposedError/);
    expect(r.disposedFlags).toEqual([true, true]);
    expect(r.leaked).toBe(0);
  });
});
