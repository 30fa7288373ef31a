import { describe, expect, test } from "bun:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { renderTemplate } from "../../src/jit/template.ts";

describe("renderTemplate", () => {
  test("fills named slots, booleans as C++ literals, repeated slots every time", () => {
    const out = renderTemplate("f<{{ blockM }}, {{blockN}}, {{swapAB}}>(); // {{blockM}}", { blockM: 128, blockN: 160, swapAB: false });
    expect(out).toBe("f<128, 160, false>(); // 128");
  });

  test("a slot without a field throws and names it", () => {
    const call = () => renderTemplate("{{blockM}} {{numStages}}", { blockM: 128 });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(/numStages/);
  });

  test("a field without a slot throws and names it (catches a renamed slot)", () => {
    const call = () => renderTemplate("{{blockM}}", { blockM: 128, blockK: 128 });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(/blockK/);
  });

  test("leftover or malformed braces throw, including ones a field value brought in", () => {
    expect(() => renderTemplate("{{blockM}} {{ 2bad }}", { blockM: 1 })).toThrow(/line 1/);
    expect(() => renderTemplate("a\n{{x}}", { x: "{{y}}" })).toThrow(/line 2/);
    expect(() => renderTemplate("{{x}}", { x: Number.NaN })).toThrow(/finite/);
    // What a misspelt property read gives at run time despite the types.
    const fields = { x: undefined } as unknown as Record<string, number>;
    expect(() => renderTemplate("{{x}}", fields)).toThrow(/fields\.x/);
  });
});
