/** The grouped bench suite's pure parts: it loads without a GPU, and its masked counts stay in range. */
import { expect, test } from "bun:test";
import { CONTIGUOUS_SHAPES, MASKED_GROUPS, MASKED_NK, maskedCounts, suite } from "../../bench/grouped.ts";
import { isBenchSuite } from "../../bench/suite.ts";

test("the suite registers as 'grouped' and covers DESIGN §7", () => {
  expect(isBenchSuite(suite)).toBe(true);
  expect(suite.name).toBe("grouped");
  expect(CONTIGUOUS_SHAPES.length).toBe(4);
  expect(MASKED_GROUPS.length * MASKED_NK.length).toBe(6);
});

test("masked counts lie in [0.7, 1.3] x expectedM and never exceed M_max", () => {
  for (let i = 0; i < 200; i++) {
    for (const c of maskedCounts(4, 256, 512)) {
      expect(c).toBeGreaterThanOrEqual(Math.round(0.7 * 256));
      expect(c).toBeLessThanOrEqual(Math.round(1.3 * 256));
    }
  }
  expect(maskedCounts(3, 1000, 900, () => 0.99)).toEqual([900, 900, 900]);
  expect(maskedCounts(1, 100, 1000, () => 0)).toEqual([70]);
});
