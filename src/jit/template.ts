/**
 * Fills `{{name}}` slots in a kernel source template. Named slots, never positional ones: a
 * reordered argument list cannot silently put BLOCK_N where BLOCK_M belongs. Every mistake is loud:
 * a slot without a field, a field without a slot, or a malformed `{{…}}` left in the output.
 */
import { InvalidArgumentError } from "../errors.ts";

/** A value a template slot accepts; numbers and booleans are written as C++ literals. */
export type TemplateValue = string | number | boolean | bigint;

const SLOT = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Returns `source` with every `{{name}}` replaced by `fields[name]`.
 * @throws InvalidArgumentError when a slot has no field, a field fills no slot, a number is not
 *   finite, or text that looks like a slot (`{{` or `}}`) remains after filling.
 */
export function renderTemplate(source: string, fields: Readonly<Record<string, TemplateValue>>): string {
  const used = new Set<string>();
  const missing = new Set<string>();
  const out = source.replace(SLOT, (_match, name: string) => {
    if (!Object.hasOwn(fields, name)) {
      missing.add(name);
      return "";
    }
    used.add(name);
    return formatValue(name, fields[name] as TemplateValue);
  });
  if (missing.size > 0) {
    throw new InvalidArgumentError("fields", "every {{slot}} in the template needs a field", [...missing]);
  }
  const unused = Object.keys(fields).filter((name) => !used.has(name));
  if (unused.length > 0) {
    throw new InvalidArgumentError("fields", "every field must fill a {{slot}} of the template", unused);
  }
  // Checked on the output, not the input: a field value that itself contains `{{x}}` is caught too.
  const leftover = /\{\{|\}\}/.exec(out);
  if (leftover) {
    const line = out.slice(0, leftover.index).split("\n").length;
    throw new InvalidArgumentError("source", `no "{{" or "}}" may remain after filling (line ${line})`, lineAt(out, leftover.index));
  }
  return out;
}

function formatValue(name: string, value: TemplateValue): string {
  // Checked at run time too: an `undefined` from a misspelt property would otherwise print as "undefined".
  const kind = typeof value;
  if (kind !== "string" && kind !== "number" && kind !== "boolean" && kind !== "bigint") {
    throw new InvalidArgumentError(`fields.${name}`, "a field must be a string, number, boolean or bigint", String(value));
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new InvalidArgumentError(`fields.${name}`, "a number field must be finite", value);
  }
  return String(value);
}

function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf("\n", index) + 1;
  const end = text.indexOf("\n", index);
  return text.slice(start, end === -1 ? undefined : end).trim();
}
