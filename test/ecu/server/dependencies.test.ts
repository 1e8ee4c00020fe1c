// Routine 0xFF01 checkProgrammingDependencies and the bootloader's start check: every refusal leaves the
// application invalid, and after a reset the bootloader stays and says why (DIDs 0xFD00 / 0xFD01).
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../src/protocol/hex.js';
import { createCrl, normalizeSerial, trustStoreFromPem } from '../../../src/security/pki/index.js';
import { createVirtualEcu } from '../../../src/ecu/server/index.js';
import { tempDir } from '../helpers.js';
import {
  APP_START,
  Harness,
  SECRET,
  applicationImage,
  cat,
  foreignRelease,
  manifestFor,
  range44,
  releaseFixture,
  sign,
  type Release,
} from './helpers.js';

/** A bootloader with `image` downloaded (erased, 34/36/37 done), ready for 31 01 FF 01. */
async function downloaded(rel: Release, image: Uint8Array, address: number, h = new Harness({ trust: rel.trust })): Promise<Harness> {
  if (h.ecu.mode === 'application') {
    await h.one('10 03');
  }
  await h.programmingUnlocked();
  await h.eraseAndDownload(image, address);
  return h;
}

/** Asserts the refusal, that nothing was recorded, and that a reset stays in the bootloader (NO_DESCRIPTOR). */
async function assertRefused(h: Harness, signed: Uint8Array, nrc: string, result: string): Promise<void> {
  assert.equal(await h.one(cat('31 01 FF 01', signed)), `7F 31 ${nrc}`);
  assert.equal(toHex(await h.readDid(0xfd01)), `01 ${result}`); // application NO_DESCRIPTOR, refusal code
  assert.equal(h.ecu.nvm.application.descriptor(), null);
  assert.equal(await h.one('11 01'), '51 01');
  assert.equal(h.ecu.mode, 'bootloader');
  assert.equal(toHex(await h.readDid(0xfd00)), '01 01'); // bootloader, because: no descriptor
  assert.equal(toHex(await h.readDid(0xfd01)), '01 FF'); // the reset forgot the last check
}

describe('routine 0xFF01 checkProgrammingDependencies refusals', () => {
  let rel: Release;
  const { image, address } = applicationImage(21);
  before(async () => {
    rel = await releaseFixture();
  });

  it('ARCHITECTURE §2.3: a manifest changed after signing (bad signature) → NRC 0x22, result 0x11', async () => {
    const signed = sign(manifestFor(image, address, { version: '2.1.0' }), rel.release);
    const at = Buffer.from(signed).indexOf('2.1.0');
    const tampered = Uint8Array.from(signed);
    tampered[at + 4] = 0x39; // '2.1.9'
    await assertRefused(await downloaded(rel, image, address), tampered, '22', '11');
  });

  it('ARCHITECTURE §2.3: a release certificate of another CA → NRC 0x22, result 0x12', async () => {
    const signed = sign(manifestFor(image, address), await foreignRelease());
    await assertRefused(await downloaded(rel, image, address), signed, '22', '12');
  });

  it('ARCHITECTURE §2.3: a revoked release certificate → NRC 0x22, result 0x13', async () => {
    const serial = normalizeSerial(new X509Certificate(rel.release.certPem).serialNumber);
    const crl = await createCrl(rel.ca, [{ serial, revokedAt: new Date() }], { crlNumber: 1 });
    const trust = await trustStoreFromPem(rel.ca.certPem, crl);
    const h = await downloaded(rel, image, address, new Harness({ trust }));
    await assertRefused(h, sign(manifestFor(image, address), rel.release), '22', '13');
  });

  it('ARCHITECTURE §2.3: another hardware id → NRC 0x22, result 0x20', async () => {
    const signed = sign(manifestFor(image, address, { hardwareId: 'stm32f103cb' }), rel.release);
    await assertRefused(await downloaded(rel, image, address), signed, '22', '20');
  });

  it('ARCHITECTURE §2.3: a release counter not above the installed one (rollback) → NRC 0x22, result 0x21', async () => {
    const h = await downloaded(rel, image, address);
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(image, address, { counter: 5 }), rel.release))), '71 01 FF 01 00');
    await h.one('11 01');
    assert.equal(h.ecu.mode, 'application');
    const older = applicationImage(22);
    await downloaded(rel, older.image, older.address, h);
    await assertRefused(h, sign(manifestFor(older.image, older.address, { counter: 5, version: '1.0.0' }), rel.release), '22', '21');
    assert.equal(h.ecu.nvm.application.installedCounter(), 5);
  });

  it('ARCHITECTURE §2.3: a digest that is not the written image → NRC 0x72, result 0x32', async () => {
    const other = applicationImage(23).image;
    const signed = sign(manifestFor(other, address), rel.release);
    await assertRefused(await downloaded(rel, image, address), signed, '72', '32');
  });

  it('ARCHITECTURE §2.3: a length that is not what was written → NRC 0x72, result 0x31', async () => {
    const shorter = image.subarray(0, image.length - 2);
    const signed = sign(manifestFor(shorter, address), rel.release);
    await assertRefused(await downloaded(rel, image, address), signed, '72', '31');
  });

  it('the image written elsewhere than the manifest load address → NRC 0x72, result 0x30', async () => {
    const small = image.subarray(0, 0x1000);
    const h = await downloaded(rel, small, APP_START + 0x400);
    await assertRefused(h, sign(manifestFor(small, APP_START), rel.release), '72', '30');
  });

  it('ISO 14229-1 §13.2.4: an option record that is not a signed manifest → NRC 0x31, result 0x10', async () => {
    await assertRefused(await downloaded(rel, image, address), Uint8Array.of(0x4f, 0x54, 0x53, 0x4d, 0x01), '31', '10');
  });
});

describe('bootloader start check (ARCHITECTURE §3: starts the application only if it verifies)', () => {
  let rel: Release;
  const { image, address } = applicationImage(31);
  before(async () => {
    rel = await releaseFixture();
  });

  async function installed(h: Harness): Promise<void> {
    await downloaded(rel, image, address, h);
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(image, address), rel.release))), '71 01 FF 01 00');
  }

  it('erasing a page of the application clears the descriptor: the reset stays in the bootloader, DID 0xFD00 = 01 01', async () => {
    const h = new Harness({ trust: rel.trust });
    await installed(h);
    assert.equal(await h.one(cat('31 01 FF 00', range44(0x0800_f000, 0x400))), '71 01 FF 00 00');
    await h.one('11 03'); // soft reset decides the same way
    assert.equal(h.ecu.mode, 'bootloader');
    assert.equal(toHex(await h.readDid(0xfd00)), '01 01');
  });

  it('flash content that no longer matches the recorded SHA-256 → stays in the bootloader, DID 0xFD00 = 01 05 (DIGEST)', async () => {
    const h = new Harness({ trust: rel.trust });
    await installed(h);
    h.ecu.nvm.flash.programHalfWord(APP_START + 0x2000, 0x0000); // PM0075: 0x0000 always programs — a corrupted cell
    await h.one('11 01');
    assert.equal(h.ecu.mode, 'bootloader');
    assert.equal(toHex(await h.readDid(0xfd00)), '01 05');
    assert.equal(toHex(await h.readDid(0xfd01)), '05 FF');
    assert.equal(await h.one('22 F1 89 F1 86'), '62 F1 89 32 2E 31 2E 30 F1 86 01'); // the descriptor still names 2.1.0
  });

  it('an application whose flash reads erased at power-on (lost flash file content) → DID 0xFD00 = 01 04 (ERASED)', async () => {
    const { dir, cleanup } = tempDir('ota-ecu-server-');
    try {
      const h = new Harness({ stateDir: dir, trust: rel.trust });
      await installed(h);
      h.ecu.close();
      const file = join(dir, 'flash.bin');
      const cells = readFileSync(file);
      cells.fill(0xff, address - 0x0800_0000, address - 0x0800_0000 + image.length);
      writeFileSync(file, cells);
      const ecu = createVirtualEcu({ stateDir: dir, secret: SECRET });
      assert.deepEqual(ecu.bootState(), { mode: 'bootloader', reason: 0x04 });
      ecu.close();
    } finally {
      cleanup();
    }
  });
});
