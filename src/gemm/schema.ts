/**
 * Zod schemas for the option objects of the public GEMM entry points. Parsed once per plan (or per
 * convenience call), never inside a plan's `run`.
 */
import { z } from "zod";
import { InvalidArgumentError } from "../errors.ts";
import { BLOCK_N_CANDIDATES } from "./heuristics.ts";

/** K is a multiple of 16 (the TMA row stride of FP8 rows must be 16-byte aligned). */
export const K_ALIGNMENT = 16;
/** Largest K: its B scales (2 rows x ceil(K/128) f32) must leave room for a pipeline in shared memory. */
export const MAX_K = 1 << 17;
/** Largest M, N: TMA coordinates are signed 32-bit. */
export const MAX_EXTENT = 2 ** 31 - 1;

const extent = (min: number) => z.number().int().min(min).max(MAX_EXTENT);

/** PlanOptions.maxSms; its upper bound, the device's SM count, is checked when the plan is built. */
export const maxSmsSchema = z.number().int().min(1);

export const kernelConfigOverrideSchema = z
  .object({
    blockM: z.union([z.literal(64), z.literal(128), z.literal(256)]),
    blockN: z.number().int().refine((v) => BLOCK_N_CANDIDATES.includes(v), {
      message: `blockN must be one of ${BLOCK_N_CANDIDATES.join(", ")}`,
    }),
    numStages: z.number().int().min(2).max(32),
    clusterM: z.union([z.literal(1), z.literal(2)]),
    clusterN: z.union([z.literal(1), z.literal(2)]),
    rasterGroupN: z.number().int().min(1).max(64),
    orderedMath: z.boolean(),
    scaleBSource: z.enum(["math-staged", "producer"]),
    pipelinedPromotion: z.boolean(),
    splitLastRound: z.boolean(),
  })
  .partial()
  .strict();

export const denseShapeSchema = z
  .object({
    m: extent(0),
    n: extent(1),
    k: extent(K_ALIGNMENT).max(MAX_K).refine((k) => k % K_ALIGNMENT === 0, { message: `k must be a multiple of ${K_ALIGNMENT}` }),
    outDtype: z.enum(["bf16", "f32"]).default("bf16"),
    accumulate: z.boolean().default(false),
  })
  .strict()
  .refine((s) => !s.accumulate || s.outDtype === "f32", { message: "accumulate (D = C + A·Bᵀ) needs outDtype f32", path: ["accumulate"] });

export const planOptionsSchema = z
  .object({
    config: kernelConfigOverrideSchema.optional(),
    maxSms: maxSmsSchema.optional(),
    /** Test-only: the kernel variant without promotion. */
    singleLevelForTest: z.boolean().optional(),
  })
  .strict();

/** Parses with `schema` and turns the first zod issue into an InvalidArgumentError (rule + value). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, argument: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  let offending: unknown = value;
  for (const key of path) offending = offending !== null && typeof offending === "object" ? (offending as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  const where = [argument, ...path.map(String)].join(".");
  throw new InvalidArgumentError(where, issue?.message ?? "is invalid", offending);
}
