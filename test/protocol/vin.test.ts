import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../src/protocol/errors.js';
import {
  MODEL_YEAR_CODES,
  isValidVin,
  makeVin,
  modelYearCode,
  parseVin,
  simulatorVin,
  validateVin,
  vinCheckDigit,
} from '../../src/protocol/vin.js';

const VIN_CHARS = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';

describe('vinCheckDigit', () => {
  it('computes the 49 CFR 565 example: 1M8GDM9A?KP042788 → X (remainder 10)', () => {
    // 1 M 8 G D M 9 A | ? | K P 0 4 2 7 8 8
    // values 1 4 8 7 4 4 9 1 | – | 2 7 0 4 2 7 8 8, weights 8 7 6 5 4 3 2 10 | 0 | 9 8 7 6 5 4 3 2 → Σ = 351, 351 mod 11 = 10
    assert.equal(vinCheckDigit('1M8GDM9A0KP042788'), 'X');
    assert.equal(validateVin('1M8GDM9AXKP042788'), '1M8GDM9AXKP042788');
  });

  it('accepts well-known valid VINs', () => {
    for (const vin of ['11111111111111111', '1HGCM82633A004352', 'JH4KA7561PC008269']) assert.equal(isValidVin(vin), true, vin);
  });

  it('ignores what position 9 holds (weight 0)', () => {
    assert.equal(vinCheckDigit('1M8GDM9A0KP042788'), vinCheckDigit('1M8GDM9A7KP042788'));
  });
});

describe('validateVin', () => {
  const malformed: Array<[string, string, string]> = [
    ['16 characters', '1M8GDM9AXKP04278', 'VIN_LENGTH'],
    ['18 characters', '1M8GDM9AXKP0427881', 'VIN_LENGTH'],
    ['empty', '', 'VIN_LENGTH'],
    ["letter I", '1M8GDM9AXKP04278I', 'VIN_CHARACTER'],
    ["letter O", 'OM8GDM9AXKP042788', 'VIN_CHARACTER'],
    ["letter Q", '1M8GDMQAXKP042788', 'VIN_CHARACTER'],
    ['lower case', '1m8gdm9axkp042788', 'VIN_CHARACTER'],
    ['a space', '1M8GDM9AXKP 42788', 'VIN_CHARACTER'],
    ['wrong check digit', '1M8GDM9A1KP042788', 'VIN_CHECK_DIGIT'],
  ];
  for (const [what, vin, code] of malformed) {
    it(`refuses ${what} with ${code}`, () => assert.throws(() => validateVin(vin), { code }));
  }
});

describe('modelYearCode', () => {
  it('follows the 30-year cycle: 1980 A, 2000 Y, 2001 1, 2009 9, 2010 A, 2025 S, 2039 9', () => {
    assert.deepEqual([1980, 2000, 2001, 2009, 2010, 2025, 2039].map(modelYearCode), ['A', 'Y', '1', '9', 'A', 'S', '9']);
    assert.equal(MODEL_YEAR_CODES.length, 30);
    assert.ok(!/[IOQUZ0]/.test(MODEL_YEAR_CODES));
  });
  it('refuses years outside 1980-2039 with VIN_MODEL_YEAR', () => {
    for (const y of [1979, 2040, 2025.5]) assert.throws(() => modelYearCode(y), { code: 'VIN_MODEL_YEAR' });
  });
});

describe('makeVin', () => {
  it('assembles WMI, VDS, check digit, model year, plant and a 6-digit serial', () => {
    const vin = makeVin({ wmi: 'ZZS', vds: 'VECU1', modelYear: 2025, plant: 'A', serial: 1 });
    assert.equal(vin.length, 17);
    assert.deepEqual(parseVin(vin), { wmi: 'ZZS', vds: 'VECU1', checkDigit: vinCheckDigit(vin), modelYearCode: 'S', plant: 'A', serial: '000001' });
  });
  it('refuses parts of the wrong size with VIN_PART and bad characters with VIN_CHARACTER', () => {
    assert.throws(() => makeVin({ wmi: 'ZZ', vds: 'VECU1', modelYear: 2025, plant: 'A', serial: 1 }), { code: 'VIN_PART' });
    assert.throws(() => makeVin({ wmi: 'ZZS', vds: 'VECU', modelYear: 2025, plant: 'A', serial: 1 }), { code: 'VIN_PART' });
    assert.throws(() => makeVin({ wmi: 'ZZS', vds: 'VECU1', modelYear: 2025, plant: 'AB', serial: 1 }), { code: 'VIN_PART' });
    assert.throws(() => makeVin({ wmi: 'ZZS', vds: 'VECU1', modelYear: 2025, plant: 'A', serial: 1_000_000 }), { code: 'VIN_PART' });
    assert.throws(() => makeVin({ wmi: 'OTA', vds: 'VECU1', modelYear: 2025, plant: 'A', serial: 1 }), { code: 'VIN_CHARACTER' });
  });
});

describe('simulatorVin', () => {
  it('is deterministic, distinct per number and valid', () => {
    const vins = [1, 2, 3, 999_999].map(simulatorVin);
    assert.deepEqual(vins, [1, 2, 3, 999_999].map(simulatorVin));
    assert.equal(new Set(vins).size, 4);
    for (const v of vins) assert.equal(isValidVin(v), true, v);
    assert.match(vins[0] as string, /^ZZSVECU1[0-9X]SA000001$/);
  });
});

describe('properties', () => {
  it('every made VIN validates, and a one-step change of the serial breaks its check digit', () => {
    const part = (n: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...VIN_CHARS), { minLength: n, maxLength: n }).map((a) => a.join(''));
    fc.assert(
      fc.property(part(3), part(5), fc.integer({ min: 1980, max: 2039 }), part(1), fc.integer({ min: 0, max: 999_999 }), (wmi, vds, modelYear, plant, serial) => {
        const vin = makeVin({ wmi, vds, modelYear, plant, serial });
        assert.equal(isValidVin(vin), true);
        // 0 ↔ 1 at position 12 (weight 8) changes the sum by ±8, never a multiple of 11.
        const i = 11; // position 12, weight 8
        const c = vin[i] as string;
        const other = c === '0' ? '1' : '0';
        const changed = vin.slice(0, i) + other + vin.slice(i + 1);
        assert.equal(isValidVin(changed), false);
      }),
      { numRuns: 10_000 },
    );
  });

  it('random strings give only OtaErrors or a verdict', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        try {
          validateVin(s);
        } catch (e) {
          assert.ok(isOtaError(e), String(e));
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
