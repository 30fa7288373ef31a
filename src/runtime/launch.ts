/**
 * Kernel launches through cuLaunchKernelEx, with an optional thread-block cluster.
 */
import { ptr } from "bun:ffi";
import { checkCuda, driver } from "../ffi/cuda.ts";
import { InvalidArgumentError } from "../errors.ts";
import {
  alignedBytes,
  LAUNCH_ATTRIBUTE,
  LAUNCH_CONFIG,
  packLaunchAttributeClusterDim,
  packLaunchConfig,
  type Dim3,
  type LaunchConfigFields,
} from "../ffi/structs.ts";
import type { KernelArgs } from "./kernelArgs.ts";
import type { KernelFunction } from "./module.ts";
import type { CapturedResource, Stream } from "./stream.ts";
import type { Tensor } from "../tensor/tensor.ts";

export interface LaunchOptions {
  grid: Dim3;
  block: Dim3;
  /** Dynamic shared memory per block; above 48 KB needs fn.setMaxDynamicSharedBytes first. */
  sharedBytes: number;
  /** The legacy default stream when omitted. */
  stream?: Stream | undefined;
  /** Cluster shape in blocks; each grid dimension must be a multiple of it. Omitted or [1,1,1]: no cluster. */
  cluster?: Dim3 | undefined;
}

// One config and one attribute buffer for every launch: the driver reads them during the call
// only, and JS is single-threaded, so reuse is safe and keeps launches allocation-free.
const configBytes = alignedBytes(LAUNCH_CONFIG.size, 8);
const attributeBytes = alignedBytes(LAUNCH_ATTRIBUTE.size, 8);
const attributeAddress = BigInt(ptr(attributeBytes));
const fields: { -readonly [K in keyof LaunchConfigFields]: LaunchConfigFields[K] } = {
  grid: [1, 1, 1],
  block: [1, 1, 1],
  sharedBytes: 0,
  stream: 0n,
  attrs: 0n,
  numAttrs: 0,
};

/** The `uses` of a launch that is not being captured: nothing to keep (no array per call). */
export const NOT_CAPTURED: readonly CapturedResource[] = Object.freeze([]);

/**
 * Queues `fn` with `args` on `options.stream`. `uses`: the tensors and buffers the launch reads or
 * writes; a graph being captured on the stream keeps them (and `fn`'s module) for its life.
 * @throws InvalidArgumentError when an argument field was never set or the grid is not a multiple
 *   of the cluster; CudaError from the driver (too much shared memory, bad cluster, invalid handle).
 */
export function launchKernel(
  fn: KernelFunction,
  options: LaunchOptions,
  args: KernelArgs,
  uses: readonly (CapturedResource | Tensor | undefined)[] = NOT_CAPTURED,
): void {
  if (!args.ready) args.assertReady();
  const cluster = options.cluster;
  const clustered = cluster !== undefined && cluster[0] * cluster[1] * cluster[2] > 1;
  if (clustered) {
    checkClusterDivides(options.grid, cluster);
    packLaunchAttributeClusterDim(cluster, attributeBytes);
  }
  fields.grid = options.grid;
  fields.block = options.block;
  fields.sharedBytes = options.sharedBytes;
  fields.stream = options.stream ? options.stream.handle : 0n;
  fields.attrs = clustered ? attributeAddress : 0n;
  fields.numAttrs = clustered ? 1 : 0;
  packLaunchConfig(fields, configBytes);
  checkCuda("cuLaunchKernelEx", driver().cuLaunchKernelEx(configBytes, fn.handle, args.pointers, null));
  if (options.stream?.capturing) options.stream.noteCaptured(`kernel ${fn.name}`, [fn.module, ...uses]);
}

function checkClusterDivides(grid: Dim3, cluster: Dim3): void {
  for (let d = 0; d < 3; d++) {
    const g = grid[d] ?? 1;
    const c = cluster[d] ?? 1;
    if (c < 1 || g % c !== 0) {
      throw new InvalidArgumentError("cluster", `grid dimension ${d} (${g}) must be a multiple of the cluster dimension`, [...cluster]);
    }
  }
}
