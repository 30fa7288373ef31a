/**
 * Shapes of the M-grouped GEMMs (DESIGN §2, "Grouped products for MoE"): the zod schemas their
 * plan forms parse once, and the derivation of a problem from the operands' dtypes and shapes for
 * the convenience calls. Pure (no device): every rule here is unit-tested on the CPU. The full
 * operand checks (strides, alignment, device) stay in the plan's `run`.
 */
import { z } from "zod";
import { InvalidArgumentError } from "../errors.ts";
import { alignedM, numBlocks } from "../quant/layout.ts";
import type { DType } from "../tensor/dtype.ts";
import { K_ALIGNMENT, MAX_EXTENT, MAX_K, kernelConfigOverrideSchema, maxSmsSchema, parseOrThrow } from "./schema.ts";

/**
 * Every expert's segment of a contiguous grouped A is padded to a multiple of this many rows, so
 * no tile of the kernel (BLOCK_M ≤ 128) straddles two experts.
 */
export const M_ALIGNMENT = 128;

const extent = (min: number) => z.number().int().min(min).max(MAX_EXTENT);
const kSchema = extent(K_ALIGNMENT)
  .max(MAX_K)
  .refine((k) => k % K_ALIGNMENT === 0, { message: `k must be a multiple of ${K_ALIGNMENT}` });

/** {mTotal, n, k, numGroups} of a contiguous grouped GEMM. */
export const contiguousShapeSchema = z
  .object({
    mTotal: extent(0).refine((m) => m % M_ALIGNMENT === 0, {
      message: `mTotal must be a multiple of M_ALIGNMENT = ${M_ALIGNMENT} (every expert's segment is padded to it)`,
    }),
    n: extent(1),
    k: kSchema,
    numGroups: extent(1),
  })
  .strict()
  // B is read as one [G·N, K] matrix through a TMA map, whose coordinates are signed 32-bit.
  .refine((s) => s.numGroups * s.n <= MAX_EXTENT, { message: `numGroups · n must be at most ${MAX_EXTENT}`, path: ["numGroups"] });

/** {mMax, n, k, numGroups, expectedM} of a masked grouped GEMM. */
export const maskedShapeSchema = z
  .object({
    mMax: extent(0),
    n: extent(1),
    k: kSchema,
    numGroups: extent(1),
    /** Host hint: rows a group usually holds (tile choice only); default mMax. */
    expectedM: extent(1).optional(),
  })
  .strict()
  .refine((s) => s.numGroups * s.n <= MAX_EXTENT, { message: `numGroups · n must be at most ${MAX_EXTENT}`, path: ["numGroups"] })
  // A and D are read as [G·M_max, ·] matrices through TMA maps.
  .refine((s) => s.numGroups * s.mMax <= MAX_EXTENT, { message: `numGroups · mMax must be at most ${MAX_EXTENT}`, path: ["numGroups"] });

export const groupedPlanOptionsSchema = z
  .object({
    config: kernelConfigOverrideSchema.optional(),
    maxSms: maxSmsSchema.optional(),
    debugChecks: z.boolean().optional(),
  })
  .strict();

export type ContiguousShape = z.output<typeof contiguousShapeSchema>;
export type MaskedShape = z.output<typeof maskedShapeSchema>;

export function parseContiguousShape(shape: unknown): ContiguousShape {
  return parseOrThrow(contiguousShapeSchema, shape, "shape");
}

export function parseMaskedShape(shape: unknown): MaskedShape {
  return parseOrThrow(maskedShapeSchema, shape, "shape");
}

/** What the derivation reads of a tensor: its dtype and shape (a Tensor satisfies it). */
export interface ShapedOperand {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

function expectOperand(name: string, t: ShapedOperand | undefined, dtype: DType, rank: number, what: string): readonly number[] {
  if (t === undefined || t === null || !Array.isArray(t.shape)) throw new InvalidArgumentError(name, "must be a Tensor", t);
  if (t.dtype !== dtype) throw new InvalidArgumentError(`${name}.dtype`, `must be ${dtype}`, t.dtype);
  if (t.shape.length !== rank) throw new InvalidArgumentError(`${name}.shape`, `must be ${what}`, [...t.shape]);
  return t.shape;
}

function expectShape(name: string, t: ShapedOperand, expected: readonly number[], what: string): void {
  if (t.shape.length !== expected.length || t.shape.some((v, i) => v !== expected[i])) {
    throw new InvalidArgumentError(`${name}.shape`, `must be ${what} = [${expected.join(", ")}]`, [...t.shape]);
  }
}

/** B [G, N, K] and its scales [G, ceil(N/128), ceil(K/128)], with K taken from A. */
function weights(b: ShapedOperand, sfb: ShapedOperand, k: number): { n: number; numGroups: number } {
  const [numGroups, n, kb] = expectOperand("b", b, "e4m3", 3, "[G, N, K]") as [number, number, number];
  if (kb !== k) throw new InvalidArgumentError("b.shape", `must be [G, N, ${k}] (K of a)`, [...b.shape]);
  expectOperand("sfb", sfb, "f32", 3, "[G, ceil(N/128), ceil(K/128)]");
  expectShape("sfb", sfb, [numGroups, numBlocks(n), numBlocks(k)], "[G, ceil(N/128), ceil(K/128)]");
  return { n, numGroups };
}

/** The operands of a contiguous call, as far as the problem's shape is concerned. */
export interface ContiguousOperandShapes {
  a: ShapedOperand;
  sfa: ShapedOperand;
  b: ShapedOperand;
  sfb: ShapedOperand;
  d: ShapedOperand;
  mIndices: ShapedOperand;
}

/**
 * The contiguous problem the operands describe, with every dtype and shape rule checked.
 * @throws InvalidArgumentError naming the operand, the rule and the value.
 */
export function contiguousShapeOf(ops: ContiguousOperandShapes): ContiguousShape {
  const [mTotal, k] = expectOperand("a", ops.a, "e4m3", 2, "[M_total, K]") as [number, number];
  const { n, numGroups } = weights(ops.b, ops.sfb, k);
  expectOperand("sfa", ops.sfa, "f32", 2, "[ceil(K/128), alignUp(M_total, 4)]");
  expectShape("sfa", ops.sfa, [numBlocks(k), alignedM(mTotal)], "[ceil(K/128), alignUp(M_total, 4)]");
  expectOperand("d", ops.d, "bf16", 2, "[M_total, N]");
  expectShape("d", ops.d, [mTotal, n], "[M_total, N]");
  expectOperand("mIndices", ops.mIndices, "i32", 1, "[M_total]");
  expectShape("mIndices", ops.mIndices, [mTotal], "[M_total]");
  return parseContiguousShape({ mTotal, n, k, numGroups });
}

/** The operands of a masked call, as far as the problem's shape is concerned. */
export interface MaskedOperandShapes {
  a: ShapedOperand;
  sfa: ShapedOperand;
  b: ShapedOperand;
  sfb: ShapedOperand;
  d: ShapedOperand;
  maskedM: ShapedOperand;
}

/**
 * The masked problem the operands describe (expectedM is the caller's, passed through).
 * @throws InvalidArgumentError naming the operand, the rule and the value.
 */
export function maskedShapeOf(ops: MaskedOperandShapes, expectedM?: number): MaskedShape {
  const [groupsA, mMax, k] = expectOperand("a", ops.a, "e4m3", 3, "[G, M_max, K]") as [number, number, number];
  const { n, numGroups } = weights(ops.b, ops.sfb, k);
  if (groupsA !== numGroups) throw new InvalidArgumentError("a.shape", `must be [${numGroups}, M_max, K] (G of b)`, [...ops.a.shape]);
  expectOperand("sfa", ops.sfa, "f32", 3, "[G, ceil(K/128), alignUp(M_max, 4)]");
  expectShape("sfa", ops.sfa, [numGroups, numBlocks(k), alignedM(mMax)], "[G, ceil(K/128), alignUp(M_max, 4)]");
  expectOperand("d", ops.d, "bf16", 3, "[G, M_max, N]");
  expectShape("d", ops.d, [numGroups, mMax, n], "[G, M_max, N]");
  expectOperand("maskedM", ops.maskedM, "i32", 1, "[G]");
  expectShape("maskedM", ops.maskedM, [numGroups], "[G]");
  return parseMaskedShape(expectedM === undefined ? { mMax, n, k, numGroups } : { mMax, n, k, numGroups, expectedM });
}
