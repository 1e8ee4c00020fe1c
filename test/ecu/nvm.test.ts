import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLASH_FILES } from '../../src/ecu/flash-store.js';
import { OPTION_BYTES_FILE, readFloorCopy } from '../../src/ecu/option-bytes.js';
import { STATE_FILE } from '../../src/ecu/state.js';
import { isOtaError } from '../../src/protocol/errors.js';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/protocol/clock.js';
import { BOOTLOADER_VERSION } from '../../src/ecu/bootloader-image.js';
import { APP_ERROR } from '../../src/ecu/descriptor.js';
import { ALL_DTC_GROUPS as DTC_GROUP_ALL } from '../../src/protocol/uds/dtc.js';
import { memoryNvm, openNvm } from '../../src/ecu/nvm.js';
import { ECU_SECRET_CODES, SECRET_FILE } from '../../src/ecu/secret.js';
import { computeKey, SA_LEVEL } from '../../src/ecu/security-access.js';
import { pseudoRandomBytes, tempDir } from './helpers.js';

const APP = 0x0800_2000;
const IMAGE = pseudoRandomBytes(5000, 3);
const REQUEST = {
  start: APP,
  length: IMAGE.length,
  sha256: createHash('sha256').update(IMAGE).digest('hex'),
  version: '1.4.2',
  counter: 14,
  hardwareId: 'stm32f103c8',
};

describe('EcuNvm', () => {
  it('a new ECU: bootloader 1.0.0 in flash, no application (NO_DESCRIPTOR), hardware id = model', () => {
    const nvm = memoryNvm({ model: 'stm32f103cb' });
    assert.equal(nvm.bootInfo()?.version, BOOTLOADER_VERSION);
    assert.deepEqual(nvm.applicationStatus(), { valid: false, reason: 'NO_DESCRIPTOR' });
    assert.equal(nvm.hardwareId(), 'stm32f103cb');
  });

  it('erasing any application page clears the descriptor first; the release counter stays', () => {
    const nvm = memoryNvm();
    nvm.flash.eraseRange(APP, IMAGE.length);
    nvm.flash.program(APP, IMAGE);
    nvm.application.install(REQUEST);
    assert.equal(nvm.applicationStatus().valid, true);
    nvm.flash.erasePage(0x0800_f800); // a page outside the image, still the application region
    assert.deepEqual(nvm.applicationStatus(), { valid: false, reason: 'NO_DESCRIPTOR' });
    assert.equal(nvm.application.installedCounter(), 14);
    nvm.flash.eraseRange(APP, IMAGE.length);
    nvm.flash.program(APP, IMAGE);
    assert.throws(() => nvm.application.install(REQUEST), { code: APP_ERROR.ROLLBACK });
    nvm.application.install({ ...REQUEST, counter: 15 });
    assert.equal(nvm.applicationStatus().valid, true);
  });

  it('makes a random secret at first start, keeps it 0600 in security-secret, and uses it after a restart', () => {
    const { dir, cleanup } = tempDir();
    const other = tempDir();
    try {
      const a = openNvm(dir, { identity: { serialNumber: 'ENG-7' } });
      assert.equal(a.securitySecret.created, true);
      assert.equal(a.securitySecret.file, join(dir, SECRET_FILE));
      assert.equal(a.securitySecret.secret.length, 32);
      assert.equal(statSync(join(dir, SECRET_FILE)).mode & 0o777, 0o600);
      const secret = a.securitySecret.secret;
      a.close();
      const b = openNvm(dir);
      assert.equal(b.securitySecret.created, false);
      assert.deepEqual(b.securitySecret.secret, secret);
      const seed = b.security.requestSeed(SA_LEVEL.programming.requestSeed);
      b.security.sendKey(SA_LEVEL.programming.sendKey, computeKey(secret, seed));
      assert.equal(b.security.unlockedLevel, SA_LEVEL.programming.requestSeed);
      b.close();
      // The same serial number elsewhere: another secret (nothing a tester reads derives it).
      const c = openNvm(other.dir, { identity: { serialNumber: 'ENG-7' } });
      assert.notDeepEqual(c.securitySecret.secret, secret);
      c.close();
    } finally {
      cleanup();
      other.cleanup();
    }
  });

  it('uses a given secret without writing it, and refuses a corrupt secret file with ECU_SECRET_CORRUPT', () => {
    const { dir, cleanup } = tempDir();
    try {
      const given = new Uint8Array(16).fill(9);
      const a = openNvm(dir, { secret: given });
      assert.deepEqual(a.securitySecret, { secret: given, file: undefined, created: false });
      a.close();
      assert.throws(() => statSync(join(dir, SECRET_FILE)), { code: 'ENOENT' });
      writeFileSync(join(dir, SECRET_FILE), 'not hex\n', { mode: 0o600 });
      assert.throws(() => openNvm(dir), { code: ECU_SECRET_CODES.corrupt });
    } finally {
      cleanup();
    }
  });

  it('a memory-only ECU gets a random secret per instance', () => {
    const a = memoryNvm({ identity: { serialNumber: 'ENG-7' } });
    const b = memoryNvm({ identity: { serialNumber: 'ENG-7' } });
    assert.notDeepEqual(a.securitySecret.secret, b.securitySecret.secret);
    const seed = a.security.requestSeed(SA_LEVEL.programming.requestSeed);
    a.security.sendKey(SA_LEVEL.programming.sendKey, computeKey(a.securitySecret.secret, seed));
    assert.equal(a.security.unlockedLevel, SA_LEVEL.programming.requestSeed);
  });

  it('keeps flash, descriptor, counter, DTCs, security counters and DIDs across a restart', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const clock = new FakeClock(1_700_000_000_000);
      const a = openNvm(dir, { clock, identity: { vin: 'WVWZZZ1JZXW000001' } });
      await a.timedFlash.eraseRange(APP, IMAGE.length);
      await a.timedFlash.program(APP, IMAGE);
      a.application.install(REQUEST);
      a.dtcs.clear(DTC_GROUP_ALL);
      a.security.requestSeed(SA_LEVEL.extended.requestSeed);
      assert.throws(() => a.security.sendKey(SA_LEVEL.extended.sendKey, new Uint8Array(16)), { wireCode: 0x35 });
      a.state.writeDid(0xf1a0, Uint8Array.of(0xaa));
      a.close();

      const b = openNvm(dir, { clock });
      assert.deepEqual(b.flash.read(APP, IMAGE.length), IMAGE);
      assert.equal(b.flash.eraseCount(APP), 1);
      assert.deepEqual(b.applicationStatus(), { valid: true, descriptor: { ...REQUEST } });
      assert.equal(b.application.installedCounter(), 14);
      assert.deepEqual(b.dtcs.byStatusMask(0xff), []);
      assert.equal(b.security.failedAttempts, 1);
      assert.deepEqual(b.state.readDid(0xf1a0), Uint8Array.of(0xaa));
      assert.equal(Buffer.from(b.state.readDid(0xf190) ?? []).toString(), 'WVWZZZ1JZXW000001');
      b.close();
    } finally {
      cleanup();
    }
  });

  it('runs the timing model through the injected clock when timing is on', async () => {
    const clock = new FakeClock();
    const nvm = memoryNvm({ clock, timing: { pageEraseMs: 20, halfWordProgramUs: 40 } });
    const erase = nvm.timedFlash.eraseRange(APP, 0x800);
    assert.equal(await clock.runAll(), 40);
    await erase;
  });
});

describe('EcuNvm: a lost state.json or flash.bin (the rollback floor)', () => {
  const dirs: Array<{ cleanup(): void }> = [];
  const scratch = (): { dir: string } => {
    const t = tempDir();
    dirs.push(t);
    return t;
  };
  after(() => {
    for (const t of dirs) t.cleanup();
  });

  /** An ECU in `dir` that installed release counter 14 (1001000 in the field: any counter above 0). */
  function provisioned(dir: string): void {
    const nvm = openNvm(dir);
    nvm.flash.eraseRange(APP, IMAGE.length);
    nvm.flash.program(APP, IMAGE);
    nvm.application.install(REQUEST);
    assert.equal(nvm.application.installedCounter(), 14);
    nvm.close();
  }

  it('state.json deleted: refused ECU_STATE_MISSING, nothing recreated', () => {
    const { dir } = scratch();
    provisioned(dir);
    rmSync(join(dir, STATE_FILE));
    assert.throws(() => openNvm(dir), (e: unknown) => isOtaError(e) && e.code === 'ECU_STATE_MISSING');
    assert.equal(existsSync(join(dir, STATE_FILE)), false, 'the refusal changed nothing');
  });

  it('flash.bin deleted: refused FLASH_STATE_MISSING instead of a silently refilled flash', () => {
    const { dir } = scratch();
    provisioned(dir);
    rmSync(join(dir, FLASH_FILES.cells));
    assert.throws(() => openNvm(dir), (e: unknown) => isOtaError(e) && e.code === 'FLASH_STATE_MISSING');
    assert.equal(existsSync(join(dir, FLASH_FILES.cells)), false);
  });

  it('an explicit re-provision after state.json was deleted keeps the rollback floor (option bytes) and logs it', () => {
    const { dir } = scratch();
    provisioned(dir);
    rmSync(join(dir, STATE_FILE));
    const lines: string[] = [];
    const nvm = openNvm(dir, { reprovision: true, log: (l) => lines.push(l) });
    try {
      assert.equal(nvm.application.installedCounter(), 14, 'the floor is not reset to 0');
      assert.deepEqual(nvm.applicationStatus(), { valid: false, reason: 'NO_DESCRIPTOR' });
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /re-provisioned \(state\.json recreated\); rollback floor kept at 14/);
    } finally {
      nvm.close();
    }
  });

  it('an explicit re-provision after flash.bin was deleted: fresh flash, no valid application, floor kept', () => {
    const { dir } = scratch();
    provisioned(dir);
    rmSync(join(dir, FLASH_FILES.cells));
    const nvm = openNvm(dir, { reprovision: true, log: () => undefined });
    try {
      assert.equal(nvm.application.installedCounter(), 14);
      assert.equal(nvm.applicationStatus().valid, false);
      assert.equal(nvm.bootInfo()?.version, BOOTLOADER_VERSION);
    } finally {
      nvm.close();
    }
  });

  it('a state.json rolled back to an older copy does not lower the floor: the option bytes restore it', () => {
    const { dir } = scratch();
    const old = openNvm(dir);
    old.close();
    const before = readFileSync(join(dir, STATE_FILE)); // counter 0
    provisioned(dir);
    writeFileSync(join(dir, STATE_FILE), before);
    const nvm = openNvm(dir);
    try {
      assert.equal(nvm.application.installedCounter(), 14);
      assert.throws(() => nvm.application.install({ ...REQUEST, counter: 13 }), (e: unknown) => isOtaError(e) && e.code === APP_ERROR.ROLLBACK);
    } finally {
      nvm.close();
    }
  });

  it('the option bytes deleted: state.json still holds the floor, and the second copy is made again', () => {
    const { dir } = scratch();
    provisioned(dir);
    rmSync(join(dir, OPTION_BYTES_FILE));
    const nvm = openNvm(dir);
    nvm.close();
    assert.equal(readFloorCopy(dir), 14);
    rmSync(join(dir, STATE_FILE));
    const again = openNvm(dir, { reprovision: true, log: () => undefined });
    assert.equal(again.application.installedCounter(), 14);
    again.close();
  });
});
