/**
 * The one pointer normaliser. Device pointers and driver handles are `bigint` everywhere in
 * bungemm; FFI and user code sometimes hand us numbers, and this is the only place that converts.
 */
import { InvalidArgumentError } from "../errors.ts";

/** Converts a non-negative integer pointer or handle to `bigint`; refuses fractions, negatives and unsafe numbers. */
export function toBigInt(value: number | bigint): bigint {
  if (typeof value === "bigint") {
    if (value < 0n) throw new InvalidArgumentError("pointer", "must be non-negative", value);
    return value;
  }
  // A pointer above 2^53 stored in a number has already lost bits; refusing it beats a wild address.
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError("pointer", "must be a non-negative safe integer", value);
  }
  return BigInt(value);
}
