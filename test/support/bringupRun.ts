/**
 * Launching the bring-up kernels on a device and reading their outputs back. Every output buffer
 * is poisoned before the launch, so a byte the kernel never wrote cannot pass for a right one.
 */
import { getKernel } from "../../src/jit/jit.ts";
import type { Device } from "../../src/runtime/device.ts";
import { KernelArgs } from "../../src/runtime/kernelArgs.ts";
import { launchKernel } from "../../src/runtime/launch.ts";
import { DeviceBuffer, copyDeviceToHost, copyHostToDevice, memsetD32, memsetD8 } from "../../src/runtime/memory.ts";
import type { Stream } from "../../src/runtime/stream.ts";
import { encodeTensorMap2d } from "../../src/runtime/tensorMap.ts";
import {
  CLUSTER_RANK_PARAMS,
  CLUSTER_RANK_WORDS,
  TMA_TILE_COPY_PARAMS,
  TMA_TILE_COPY_THREADS,
  clusterRankSource,
  tmaTileCopySharedBytes,
  tmaTileCopySource,
  type TmaTileCopyVariant,
} from "./bringupKernels.ts";

/** 0xa5: not the zero TMA fills out-of-bounds bytes with, so an unwritten raw byte shows. */
export const POISON_BYTE = 0xa5;

export interface TmaTileCopyOutput {
  grid: [x: number, y: number];
  /** gridX * gridY shared tiles as TMA left them, CTA (bx, by) at (by * gridX + bx) * tileBytes. */
  raw: Uint8Array;
  /** The matrix rebuilt with plain stores after de-swizzling in the kernel. */
  copy: Uint8Array;
  /** The matrix rebuilt by TMA stores of the shared tiles. */
  tmaStore: Uint8Array;
}

/** Copies a `rows` x `cols` byte matrix (`input`, row-major) through the TMA bring-up kernel. */
export function runTmaTileCopy(
  device: Device,
  variant: TmaTileCopyVariant,
  input: Uint8Array,
  rows: number,
  cols: number,
  stream: Stream,
): TmaTileCopyOutput {
  const kernel = getKernel(device, tmaTileCopySource(variant));
  const grid: [number, number] = [Math.ceil(cols / variant.boxCols), Math.ceil(rows / variant.boxRows)];
  const tileBytes = variant.boxCols * variant.boxRows;
  using src = DeviceBuffer.alloc(device, rows * cols);
  using copyOut = DeviceBuffer.alloc(device, rows * cols);
  using storeOut = DeviceBuffer.alloc(device, rows * cols);
  using rawOut = DeviceBuffer.alloc(device, grid[0] * grid[1] * tileBytes);
  copyHostToDevice(src, input, stream);
  for (const buffer of [copyOut, storeOut, rawOut]) memsetD8(buffer, POISON_BYTE, stream);

  const args = new KernelArgs(TMA_TILE_COPY_PARAMS);
  const map = (name: string, address: bigint): void => {
    const slot = args.tensorMapSlot(name);
    encodeTensorMap2d(
      { dtype: "u8", globalAddress: address, globalDims: [cols, rows], globalStridesBytes: [cols], boxDims: [variant.boxCols, variant.boxRows], swizzle: variant.swizzle },
      slot,
    );
    args.set(name, slot);
  };
  map("load_map", src.ptr);
  map("store_map", storeOut.ptr);
  args.set("raw_out", rawOut.ptr).set("copy_out", copyOut.ptr).set("rows", rows).set("cols", cols);
  launchKernel(kernel, { grid: [grid[0], grid[1], 1], block: [TMA_TILE_COPY_THREADS, 1, 1], sharedBytes: tmaTileCopySharedBytes(variant), stream }, args);

  const out: TmaTileCopyOutput = {
    grid,
    raw: new Uint8Array(rawOut.bytes),
    copy: new Uint8Array(rows * cols),
    tmaStore: new Uint8Array(rows * cols),
  };
  copyDeviceToHost(out.raw, rawOut, stream);
  copyDeviceToHost(out.copy, copyOut, stream);
  copyDeviceToHost(out.tmaStore, storeOut, stream);
  stream.synchronize();
  return out;
}

/**
 * The cluster bring-up kernel, ready to launch repeatedly (the bench times a warm launch): the
 * output buffer and argument blob are made once.
 */
export class ClusterRankLaunch implements Disposable {
  readonly out: DeviceBuffer;
  private readonly args = new KernelArgs(CLUSTER_RANK_PARAMS);
  // One source string for every launch: getKernel's warm map is keyed by it (a plan does the same).
  private readonly source = clusterRankSource();

  constructor(
    readonly device: Device,
    readonly gridX: number,
    readonly clusterX: number,
  ) {
    this.out = DeviceBuffer.alloc(device, gridX * CLUSTER_RANK_WORDS * 4);
    this.args.set("out", this.out.ptr);
  }

  /** Queues one launch; the kernel lookup is getKernel's warm path after the first call. */
  launch(seed: number, stream: Stream): void {
    const kernel = getKernel(this.device, this.source);
    this.args.set("seed", seed >>> 0);
    launchKernel(kernel, { grid: [this.gridX, 1, 1], block: [64, 1, 1], sharedBytes: 0, stream, cluster: [this.clusterX, 1, 1] }, this.args);
  }

  /** Poisons the output, launches once and returns the gridX * 6 words. */
  run(seed: number, stream: Stream): Uint32Array {
    memsetD32(this.out, 0xffffffff, stream);
    this.launch(seed, stream);
    const words = new Uint32Array(this.gridX * CLUSTER_RANK_WORDS);
    copyDeviceToHost(words, this.out, stream);
    stream.synchronize();
    return words;
  }

  [Symbol.dispose](): void {
    this.out.dispose();
  }
}
