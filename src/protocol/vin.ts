/**
 * Vehicle identification numbers (ISO 3779): 17 characters, digits and capitals without I, O, Q.
 *
 *   positions 1–3    WMI, world manufacturer identifier
 *   positions 4–8    VDS, vehicle descriptor section
 *   position  9      check digit (49 CFR 565.15 / ISO 3779 Annex: transliterate, weight, mod 11, 10 → X)
 *   position  10     model year code (A–Y without I, O, Q, U, Z, then 1–9; a 30-year cycle, 2010 = A)
 *   position  11     plant code
 *   positions 12–17  serial number
 *
 * ISO 3779 itself leaves position 9 to the manufacturer; North America (49 CFR 565) makes it the check
 * digit, and we require it everywhere a VIN is made or validated here. Pure code, no I/O.
 */
import { DecodeError } from './errors.js';

export const VIN_LENGTH = 17;
/** ISO 3779 §5: the characters a VIN may contain. */
export const VIN_ALPHABET = /^[0-9A-HJ-NPR-Z]*$/;

/** 49 CFR 565.15 Table IV: letters → values (I, O, Q never occur). */
export const VIN_TRANSLITERATION: Readonly<Record<string, number>> = {
  A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: 7, H: 8,
  J: 1, K: 2, L: 3, M: 4, N: 5, P: 7, R: 9,
  S: 2, T: 3, U: 4, V: 5, W: 6, X: 7, Y: 8, Z: 9,
};

/** 49 CFR 565.15 Table V: weight of each position (position 9, the check digit itself, weighs 0). */
export const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2] as const;

/** Model year codes of position 10, one 30-year cycle starting 2010 (and 1980). */
export const MODEL_YEAR_CODES = 'ABCDEFGHJKLMNPRSTVWXY123456789';
const MODEL_YEAR_BASE = 2010;

function charValue(c: string): number {
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48;
  const v = VIN_TRANSLITERATION[c];
  if (v === undefined) throw new DecodeError('VIN_CHARACTER', `'${c}' cannot occur in a VIN (0-9, A-Z without I, O, Q)`);
  return v;
}

function checkShape(vin: string): void {
  if (vin.length !== VIN_LENGTH) throw new DecodeError('VIN_LENGTH', `a VIN has ${VIN_LENGTH} characters, got ${vin.length}`);
  if (!VIN_ALPHABET.test(vin)) {
    const bad = [...vin].find((c) => !VIN_ALPHABET.test(c)) ?? '?';
    throw new DecodeError('VIN_CHARACTER', `'${bad}' cannot occur in a VIN (0-9, A-Z without I, O, Q)`);
  }
}

/**
 * The check digit of a 17-character VIN (the character at position 9 is ignored: its weight is 0):
 * Σ value(c_i) × weight_i mod 11, with 10 written as 'X'. Throws VIN_LENGTH / VIN_CHARACTER.
 */
export function vinCheckDigit(vin: string): string {
  checkShape(vin);
  let sum = 0;
  for (let i = 0; i < VIN_LENGTH; i++) sum += charValue(vin[i] as string) * (VIN_WEIGHTS[i] as number);
  const r = sum % 11;
  return r === 10 ? 'X' : String(r);
}

/** Returns `vin` if it is a well-formed VIN with a correct check digit; else throws VIN_LENGTH, VIN_CHARACTER or VIN_CHECK_DIGIT. */
export function validateVin(vin: string): string {
  const expected = vinCheckDigit(vin);
  // 49 CFR 565.15(c): position 9 must equal the computed check digit.
  if (vin[8] !== expected) throw new DecodeError('VIN_CHECK_DIGIT', `check digit (position 9) is '${vin[8] ?? ''}', expected '${expected}'`);
  return vin;
}

/** True when `vin` is a well-formed VIN with a correct check digit. */
export function isValidVin(vin: string): boolean {
  try {
    validateVin(vin);
    return true;
  } catch {
    return false;
  }
}

/** The position-10 code of a model year (1980–2039; the code repeats every 30 years). Throws VIN_MODEL_YEAR. */
export function modelYearCode(year: number): string {
  if (!Number.isInteger(year) || year < 1980 || year > 2039) throw new DecodeError('VIN_MODEL_YEAR', `model year ${year} is outside 1980-2039`);
  return MODEL_YEAR_CODES[(((year - MODEL_YEAR_BASE) % 30) + 30) % 30] as string;
}

/** The parts a VIN is made of (the check digit is computed). */
export interface VinParts {
  /** 3 characters. */
  wmi: string;
  /** 5 characters. */
  vds: string;
  modelYear: number;
  /** 1 character. */
  plant: string;
  /** 0…999 999, written as 6 digits. */
  serial: number;
}

/** Builds a VIN from its parts with the correct check digit. Throws VIN_PART (wrong part size) or the VIN_* codes. */
export function makeVin(p: VinParts): string {
  if (p.wmi.length !== 3) throw new DecodeError('VIN_PART', `the WMI has 3 characters, got '${p.wmi}'`);
  if (p.vds.length !== 5) throw new DecodeError('VIN_PART', `the VDS has 5 characters, got '${p.vds}'`);
  if (p.plant.length !== 1) throw new DecodeError('VIN_PART', `the plant code has 1 character, got '${p.plant}'`);
  if (!Number.isInteger(p.serial) || p.serial < 0 || p.serial > 999_999) throw new DecodeError('VIN_PART', `serial ${p.serial} is outside 0-999999`);
  const draft = `${p.wmi}${p.vds}0${modelYearCode(p.modelYear)}${p.plant}${String(p.serial).padStart(6, '0')}`;
  const check = vinCheckDigit(draft);
  return draft.slice(0, 8) + check + draft.slice(9);
}

/** The parts of a valid VIN (model year as its code: the same code names years 30 apart). */
export function parseVin(vin: string): { wmi: string; vds: string; checkDigit: string; modelYearCode: string; plant: string; serial: string } {
  validateVin(vin);
  return { wmi: vin.slice(0, 3), vds: vin.slice(3, 8), checkDigit: vin.slice(8, 9), modelYearCode: vin.slice(9, 10), plant: vin.slice(10, 11), serial: vin.slice(11) };
}

/** The simulator's VIN parts: a demo WMI and VDS, model year 2025, plant A. Not a registered manufacturer code. */
export const SIMULATOR_VIN = { wmi: 'ZZS', vds: 'VECU1', modelYear: 2025, plant: 'A' } as const;

/** The deterministic VIN of simulated vehicle number `n` (1-based): `ZZSVECU1?SA00000n` with its check digit. */
export function simulatorVin(n: number): string {
  return makeVin({ ...SIMULATOR_VIN, serial: n });
}
