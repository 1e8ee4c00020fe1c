import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  APP_ERROR,
  APP_INVALID,
  APP_STATUS_CODE,
  ApplicationRecord,
  validateApplication,
  type ApplicationDescriptor,
  type ApplicationRecordState,
} from '../../src/ecu/descriptor.js';
import { Flash } from '../../src/ecu/flash.js';
import { memoryPersisted } from '../../src/ecu/state.js';
import { pseudoRandomBytes } from './helpers.js';

const APP = 0x0800_2000;
const END = 0x0801_0000;
const IMAGE = pseudoRandomBytes(3000, 7);
const SHA = createHash('sha256').update(IMAGE).digest('hex');

function descriptor(over: Partial<ApplicationDescriptor> = {}): ApplicationDescriptor {
  return { start: APP, length: IMAGE.length, sha256: SHA, version: '2.1.0', counter: 5, hardwareId: 'stm32f103c8', ...over };
}

function programmed(): Flash {
  const flash = Flash.inMemory();
  flash.eraseRange(APP, IMAGE.length);
  flash.program(APP, IMAGE);
  return flash;
}

describe('validateApplication', () => {
  it('is valid when SHA-256 over flash equals the descriptor', () => {
    assert.deepEqual(validateApplication(programmed(), descriptor()), { valid: true, descriptor: descriptor() });
  });

  it('says NO_DESCRIPTOR without a descriptor', () => {
    assert.deepEqual(validateApplication(programmed(), null), { valid: false, reason: APP_INVALID.NO_DESCRIPTOR });
  });

  it('says RANGE when the start is outside the application region', () => {
    const flash = programmed();
    for (const start of [0x0800_0000, APP - 2, END, 0]) {
      assert.deepEqual(validateApplication(flash, descriptor({ start })), { valid: false, reason: APP_INVALID.RANGE });
    }
  });

  it('says LENGTH for a zero length or one past the end of the region', () => {
    const flash = programmed();
    assert.deepEqual(validateApplication(flash, descriptor({ length: 0 })), { valid: false, reason: 'LENGTH' });
    assert.deepEqual(validateApplication(flash, descriptor({ length: END - APP + 1 })), { valid: false, reason: 'LENGTH' });
  });

  it('says DIGEST when a programmed byte changed (0x0000 may be programmed over anything)', () => {
    const flash = programmed();
    flash.programHalfWord(APP + 1000, 0x0000);
    assert.deepEqual(validateApplication(flash, descriptor()), { valid: false, reason: APP_INVALID.DIGEST });
  });

  it('says ERASED when the digest differs and the vector table reads erased', () => {
    const flash = programmed();
    flash.erasePage(APP);
    assert.deepEqual(validateApplication(flash, descriptor()), { valid: false, reason: APP_INVALID.ERASED });
  });

  it('has a one-byte status code per reason for the status DID', () => {
    assert.deepEqual(APP_STATUS_CODE, { VALID: 0, NO_DESCRIPTOR: 1, RANGE: 2, LENGTH: 3, ERASED: 4, DIGEST: 5 });
  });
});

describe('ApplicationRecord.install', () => {
  const make = (installedCounter = 4): { flash: Flash; record: ApplicationRecord; store: ReturnType<typeof memoryPersisted<ApplicationRecordState>> } => {
    const flash = programmed();
    const store = memoryPersisted<ApplicationRecordState>({ application: null, installedCounter });
    return { flash, record: new ApplicationRecord(flash, store, () => 'stm32f103c8'), store };
  };
  const request = { start: APP, length: IMAGE.length, sha256: SHA, version: '2.1.0', counter: 5, hardwareId: 'stm32f103c8' };

  it('records the descriptor and raises the installed counter', () => {
    const { record } = make();
    assert.deepEqual(record.install(request), descriptor());
    assert.deepEqual(record.descriptor(), descriptor());
    assert.equal(record.installedCounter(), 5);
    assert.deepEqual(record.status(), { valid: true, descriptor: descriptor() });
  });

  it('accepts the digest as 32 bytes too', () => {
    const { record } = make();
    assert.equal(record.install({ ...request, sha256: Buffer.from(SHA, 'hex') }).sha256, SHA);
  });

  it('refuses, changing nothing: hardware id, rollback, range, digest format, digest', () => {
    const cases: [Partial<typeof request>, string][] = [
      [{ hardwareId: 'stm32f103cb' }, APP_ERROR.HARDWARE_ID],
      [{ counter: 4 }, APP_ERROR.ROLLBACK], // equal to the installed counter
      [{ counter: 3 }, APP_ERROR.ROLLBACK],
      [{ start: APP - 0x400 }, APP_ERROR.RANGE],
      [{ length: END - APP + 2 }, APP_ERROR.RANGE],
      [{ length: 0 }, APP_ERROR.RANGE],
      [{ sha256: 'abc' }, APP_ERROR.FORMAT],
      [{ sha256: SHA.replace(/^./, SHA[0] === '0' ? '1' : '0') }, APP_ERROR.DIGEST],
      [{ length: IMAGE.length - 1 }, APP_ERROR.DIGEST],
    ];
    for (const [change, code] of cases) {
      const { record, store } = make();
      const before = store.load();
      assert.throws(() => record.install({ ...request, ...change }), { code }, JSON.stringify(change));
      assert.deepEqual(store.load(), before);
    }
  });

  it('invalidate() forgets the descriptor but keeps the counter', () => {
    const { record } = make();
    record.install(request);
    record.invalidate();
    assert.equal(record.descriptor(), null);
    assert.equal(record.installedCounter(), 5);
    assert.throws(() => record.install(request), { code: APP_ERROR.ROLLBACK });
  });
});
