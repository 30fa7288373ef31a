/**
 * Option objects of the quantization API, validated with zod once per call at the boundary
 * (plans take already-checked values and parse nothing). A failure becomes an InvalidArgumentError
 * naming the option, the rule and the value.
 */
import { z } from "zod";
import { InvalidArgumentError } from "../errors.ts";
import { Stream } from "../runtime/stream.ts";

// z.custom, not z.instanceof: Stream's constructor is private.
const stream = z.custom<Stream>((v) => v instanceof Stream, { message: "must be a Stream (Stream.create or defaultStream)" }).optional();

/** `{ stream? }` for the casts and the scale transforms. */
export const QuantizeOptionsSchema = z.strictObject({ stream });
export type QuantizeOptions = z.infer<typeof QuantizeOptionsSchema>;

/** `{ outDtype?: "bf16" | "f32" (default "bf16"), stream? }` for dequantization. */
export const DequantizeOptionsSchema = z.strictObject({ outDtype: z.enum(["bf16", "f32"]).optional(), stream });
export type DequantizeOptions = z.infer<typeof DequantizeOptionsSchema>;

/** Parses `options` (undefined means `{}`) or throws InvalidArgumentError for the first problem. */
export function parseOptions<S extends z.ZodType>(fn: string, schema: S, options: unknown): z.infer<S> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join(".") ?? "";
  const value = issue?.path.reduce<unknown>(
    (at, key) => (at !== null && typeof at === "object" ? (at as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined),
    options,
  );
  const shown = issue?.code === "unrecognized_keys" ? issue.keys : value;
  throw new InvalidArgumentError(`${fn}: options${path ? `.${path}` : ""}`, issue?.message ?? "invalid options", shown);
}
