import { describe, expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { InvalidArgumentError } from "../../src/errors.ts";
import { KernelArgs } from "../../src/runtime/kernelArgs.ts";

const fields = [
  { name: "m", kind: "u32" },
  { name: "d", kind: "u64" },
  { name: "scale", kind: "f32" },
  { name: "tmapA", kind: "tensorMap" },
  { name: "g", kind: "i32" },
  { name: "tmapB", kind: "tensorMap" },
] as const;

describe("KernelArgs", () => {
  test("fields are naturally aligned, tensor maps on 64 bytes, blob 64-byte aligned", () => {
    const args = new KernelArgs(fields);
    expect(fields.map((f) => args.offsetOf(f.name))).toEqual([0, 8, 16, 64, 192, 256]);
    expect(ptr(args.blob) % 64).toBe(0);
    expect(args.blob.byteLength).toBeGreaterThanOrEqual(256 + 128);
  });

  test("pointer array holds the absolute address of each field", () => {
    const args = new KernelArgs(fields);
    const base = BigInt(ptr(args.blob));
    expect([...args.pointers]).toEqual(fields.map((f) => base + BigInt(args.offsetOf(f.name))));
  });

  test("set writes little-endian values and touches only its own field", () => {
    const args = new KernelArgs(fields);
    const map = new Uint8Array(128).fill(0xab);
    args.set("m", 4096).set("d", 0x7f00_1234_5600n).set("scale", 0.5).set("tmapA", map).set("g", -3).set("tmapB", map);
    const before = args.blob.slice();
    args.set("m", 7);
    const view = new DataView(args.blob.buffer, args.blob.byteOffset);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getBigUint64(8, true)).toBe(0x7f00_1234_5600n);
    expect(view.getFloat32(16, true)).toBe(0.5);
    expect(view.getInt32(192, true)).toBe(-3);
    expect(args.blob.subarray(64, 192).every((b) => b === 0xab)).toBe(true);
    const changed = [...args.blob].flatMap((b, i) => (b === before[i] ? [] : [i]));
    expect(changed.every((i) => i < 4)).toBe(true); // only the 4 bytes of "m"
  });

  test("a tensor map encoded into its slot counts as set without a copy", () => {
    const args = new KernelArgs(fields);
    const slot = args.tensorMapSlot("tmapB");
    expect(ptr(slot) % 64).toBe(0);
    slot.fill(9);
    args.set("tmapB", slot);
    expect(args.blob[args.offsetOf("tmapB")]).toBe(9);
    expect(() => args.tensorMapSlot("m")).toThrow(InvalidArgumentError);
  });

  test("ready only once every field is set; assertReady names the missing ones", () => {
    const args = new KernelArgs([{ name: "a", kind: "u32" }, { name: "b", kind: "u64" }]);
    expect(args.ready).toBe(false);
    args.set("a", 1);
    expect(() => args.assertReady()).toThrow(/every field must be set.*"b"/);
    args.set("b", 2);
    expect(args.ready).toBe(true);
  });

  test("refuses typos, wrong kinds and out-of-range values with the field name", () => {
    const args = new KernelArgs(fields);
    expect(() => args.set("M", 1)).toThrow(/must be one of m, d, scale/);
    expect(() => args.set("m", -1)).toThrow(/m: must be an integer in \[0, 2\^32\)/);
    expect(() => args.set("m", 2 ** 32)).toThrow(InvalidArgumentError);
    expect(() => args.set("g", 2 ** 31)).toThrow(/g: must be an integer in \[-2\^31/);
    expect(() => args.set("d", -1n)).toThrow(InvalidArgumentError);
    expect(() => args.set("d", 1.5)).toThrow(InvalidArgumentError);
    expect(() => args.set("tmapA", new Uint8Array(64))).toThrow(/128-byte Uint8Array/);
    expect(() => new KernelArgs([{ name: "x", kind: "u32" }, { name: "x", kind: "u64" }])).toThrow(/must be unique/);
  });
});
