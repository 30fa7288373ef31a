/**
 * The machine code of one kernel inside a cubin (an ELF64 file): where its `.text.<name>` section
 * lies, and the fields of its 128-bit sm_90 instructions that the FFMA pass reads and writes.
 * Only what that pass needs; everything else in the file is left byte for byte.
 */
import { BungemmError } from "../errors.ts";

/** The compiler's output is not the ELF layout the post-pass expects (a toolchain change); nothing was edited. */
export class CubinFormatError extends BungemmError {
  override name = "CubinFormatError";
  constructor(readonly kernelName: string, reason: string) {
    super(`cubin of ${kernelName}: ${reason}`);
  }
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const SECTION_HEADER_BYTES = 64;
export const INSTRUCTION_BYTES = 16;

export interface TextSection {
  /** Byte offset of the section's contents in the cubin. */
  offset: number;
  /** Length in bytes (a multiple of 16). */
  size: number;
}

/** The `.text.<kernelName>` section of `cubin`; a CompileError when the file is not a 64-bit ELF or lacks it. */
export function kernelTextSection(cubin: Uint8Array, kernelName: string): TextSection {
  if (cubin.length < 64 || ELF_MAGIC.some((byte, i) => cubin[i] !== byte) || cubin[4] !== ELFCLASS64) {
    throw new CubinFormatError(kernelName, "the compiler's output is not a 64-bit ELF cubin");
  }
  const view = new DataView(cubin.buffer, cubin.byteOffset, cubin.byteLength);
  const sectionTable = Number(view.getBigUint64(0x28, true));
  const entryBytes = view.getUint16(0x3a, true);
  const count = view.getUint16(0x3c, true);
  const namesIndex = view.getUint16(0x3e, true);
  if (entryBytes !== SECTION_HEADER_BYTES || sectionTable + count * entryBytes > cubin.length || namesIndex >= count) {
    throw new CubinFormatError(kernelName, "the cubin's section table is malformed");
  }
  const header = (index: number) => sectionTable + index * entryBytes;
  const namesOffset = Number(view.getBigUint64(header(namesIndex) + 0x18, true));
  const wanted = `.text.${kernelName}`;
  for (let index = 0; index < count; index++) {
    const h = header(index);
    if (readCString(cubin, namesOffset + view.getUint32(h, true)) !== wanted) continue;
    const offset = Number(view.getBigUint64(h + 0x18, true));
    const size = Number(view.getBigUint64(h + 0x20, true));
    if (offset + size > cubin.length || size % INSTRUCTION_BYTES !== 0) {
      throw new CubinFormatError(kernelName, `section ${wanted} lies outside the file or is not whole instructions`);
    }
    return { offset, size };
  }
  throw new CubinFormatError(kernelName, `the cubin has no section ${wanted}`);
}

function readCString(bytes: Uint8Array, start: number): string {
  let end = start;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

/**
 * One sm_90 instruction as two little-endian 64-bit words. The opcode and register fields sit in
 * the low word; the scheduling controls (stall count, yield, barriers, operand reuse) in the high one.
 */
export interface Instruction {
  low: bigint;
  high: bigint;
}

export function readInstruction(view: DataView, byteOffset: number): Instruction {
  return { low: view.getBigUint64(byteOffset, true), high: view.getBigUint64(byteOffset + 8, true) };
}

export function writeInstruction(view: DataView, byteOffset: number, instruction: Instruction): void {
  view.setBigUint64(byteOffset, instruction.low, true);
  view.setBigUint64(byteOffset + 8, instruction.high, true);
}

/** Low 12 bits: the opcode with its operand-form bits (0x223: FFMA with three register sources). */
export const opcodeOf = (i: Instruction): number => Number(i.low & 0xfffn);
export const FFMA_REGISTER_FORM = 0x223;

/** Register fields of the register form: destination, then sources a, b, c (255: RZ). */
export const destinationRegister = (i: Instruction): number => Number((i.low >> 16n) & 0xffn);
export const sourceA = (i: Instruction): number => Number((i.low >> 24n) & 0xffn);
export const sourceB = (i: Instruction): number => Number((i.low >> 32n) & 0xffn);
export const sourceC = (i: Instruction): number => Number(i.high & 0xffn);

/** Control bits, counted from bit 64 of the instruction (the high word's bit 0). */
export const YIELD_BIT = 1n << 45n;
/** Operand-reuse cache flags for source slots a, b, c. */
export const REUSE_A_BIT = 1n << 58n;
export const REUSE_B_BIT = 1n << 59n;
export const REUSE_C_BIT = 1n << 60n;
export const stallCycles = (i: Instruction): number => Number((i.high >> 41n) & 0xfn);
