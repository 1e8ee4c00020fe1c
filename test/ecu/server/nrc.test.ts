// Every negative response the virtual ECU's UDS server can give, each on the path that causes it.
// Clause numbers: ISO 14229-1:2013 (§7.5 general server response behaviour, §9–§14 the services).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../src/protocol/hex.js';
import {
  APP_END,
  APP_START,
  Harness,
  applicationImage,
  cat,
  harnessWithApplication,
  range44,
  releaseFixture,
  type Release,
} from './helpers.js';

const ERASE_ALL = cat('31 01 FF 00', range44(APP_START, APP_END - APP_START));

/** A bootloader in the programming session, level 0x11 unlocked, application region erased. */
async function erasedBootloader(options: ConstructorParameters<typeof Harness>[0] = {}): Promise<Harness> {
  const h = new Harness(options);
  await h.programmingUnlocked();
  assert.equal(await h.one(ERASE_ALL), '71 01 FF 00 00');
  return h;
}

describe('NRC 0x11 serviceNotSupported', () => {
  it('ISO 14229-1 §7.5: an unknown SID → NRC 0x11', async () => {
    const h = new Harness();
    assert.equal(await h.one('BA 01'), '7F BA 11');
  });
  it('ISO 14229-1 §7.5: ReadMemoryByAddress (0x23) is not offered in either mode → NRC 0x11', async () => {
    assert.equal(await new Harness().one('23 44 08 00 20 00 00 00 00 10'), '7F 23 11');
    assert.equal(await harnessWithApplication().one('23 44 08 00 20 00 00 00 00 10'), '7F 23 11');
  });
  it('ISO 14229-1 §7.5: the bootloader has no DTC memory: 0x19 and 0x14 → NRC 0x11', async () => {
    const h = new Harness();
    assert.equal(await h.one('19 0A'), '7F 19 11');
    assert.equal(await h.one('14 FF FF FF'), '7F 14 11');
  });
});

describe('NRC 0x12 subFunctionNotSupported', () => {
  it('ISO 14229-1 §9.2.4: safetySystemDiagnosticSession (0x04) → NRC 0x12', async () => {
    assert.equal(await harnessWithApplication().one('10 04'), '7F 10 12');
  });
  it('ISO 14229-1 §9.3.4: keyOffOnReset (0x02) → NRC 0x12', async () => {
    assert.equal(await new Harness().one('11 02'), '7F 11 12');
  });
  it('ISO 14229-1 §9.4.4: a security level this ECU does not have (0x03) → NRC 0x12', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    assert.equal(await h.one('27 03'), '7F 27 12');
  });
  it('ISO 14229-1 §13.2.4: stopRoutine (0x02) of a routine that cannot be stopped → NRC 0x12', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    assert.equal(await h.one('31 02 FF 00'), '7F 31 12');
  });
  it('ISO 14229-1 §11.3.4: an unsupported reportType (0x03) → NRC 0x12; CommunicationControl 0x04 → NRC 0x12', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('19 03'), '7F 19 12');
    await h.one('10 03');
    assert.equal(await h.one('28 04 01 00 01'), '7F 28 12');
  });
});

describe('NRC 0x13 incorrectMessageLengthOrInvalidFormat', () => {
  it('ISO 14229-1 §7.5: a sub-function service without its sub-function, or with trailing bytes → NRC 0x13', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('10'), '7F 10 13');
    assert.equal(await h.one('10 03 00'), '7F 10 13');
    assert.equal(await h.one('3E 00 00'), '7F 3E 13');
  });
  it('ISO 14229-1 §10.2.4: a DID list of odd length, or more than 16 DIDs → NRC 0x13', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('22 F1'), '7F 22 13');
    assert.equal(await h.one(cat([0x22], Array.from({ length: 17 }, () => [0xf1, 0x90]).flat())), '7F 22 13');
  });
  it('ISO 14229-1 §9.4.4: a key of the wrong length, or requestSeed with a data record → NRC 0x13', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    assert.equal(await h.one('27 01 00'), '7F 27 13');
    await h.one('27 01');
    assert.equal(await h.one('27 02 00 11 22 33'), '7F 27 13');
  });
  it('ISO 14229-1 §14.4.4: a TransferData longer than maxNumberOfBlockLength, or without data → NRC 0x13', async () => {
    const h = await erasedBootloader();
    assert.equal(await h.one(cat('34 00', range44(APP_START, 0x1000))), '74 20 08 02');
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x801))), '7F 36 13');
    assert.equal(await h.one('36 01'), '7F 36 13');
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x800))), '76 01'); // the transfer is still open
  });
  it('ISO 14229-1 §10.7.4: a dataRecord of the wrong length → NRC 0x13', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    await h.unlock(0x01);
    assert.equal(await h.one('2E F1 98 41 42 43'), '7F 2E 13');
  });
});

describe('NRC 0x14 responseTooLong', () => {
  it('ISO 14229-1 §10.2.4: a response longer than the link carries → NRC 0x14', async () => {
    const h = harnessWithApplication({ maxResponseLength: 24 });
    assert.equal((await h.one('22 F1 90')).slice(0, 8), '62 F1 90');
    assert.equal(await h.one('22 F1 90 F1 8C'), '7F 22 14');
  });
});

describe('NRC 0x22 conditionsNotCorrect', () => {
  it('ISO 14229-1 §14.2.4: RequestDownload while a download is active → NRC 0x22', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 0x800)));
    assert.equal(await h.one(cat('34 00', range44(APP_START + 0x800, 0x800))), '7F 34 22');
  });
  it('ISO 14229-1 §13.2.4: eraseMemory while a download is active → NRC 0x22', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 0x800)));
    assert.equal(await h.one(ERASE_ALL), '7F 31 22');
  });
  it('ISO 14229-1 §13.2.4: checkProgrammingDependencies on an ECU without a trusted CA → NRC 0x22', async () => {
    const h = await erasedBootloader();
    const { image, address } = applicationImage();
    await h.one(cat('34 00', range44(address, 0x800)));
    await h.one(cat([0x36, 0x01], image.subarray(0, 0x800)));
    await h.one('37');
    assert.equal(await h.one('31 01 FF 01 4F 54 53 4D'), '7F 31 22');
    assert.equal(toHex(await h.readDid(0xfd01)), '01 40'); // NO_DESCRIPTOR, noTrustAnchor
  });
});

describe('NRC 0x24 requestSequenceError', () => {
  it('ISO 14229-1 §14.4.4: TransferData without RequestDownload → NRC 0x24', async () => {
    const h = await erasedBootloader();
    assert.equal(await h.one('36 01 00 11'), '7F 36 24');
  });
  it('ISO 14229-1 §14.5.4: RequestTransferExit without a download, or before all bytes arrived → NRC 0x24', async () => {
    const h = await erasedBootloader();
    assert.equal(await h.one('37'), '7F 37 24');
    await h.one(cat('34 00', range44(APP_START, 0x1000)));
    await h.one(cat([0x36, 0x01], new Uint8Array(0x800).fill(0x5a)));
    assert.equal(await h.one('37'), '7F 37 24');
    await h.one(cat([0x36, 0x02], new Uint8Array(0x800).fill(0x5a)));
    assert.equal(await h.one('37'), '77');
  });
  it('ISO 14229-1 §9.4.4: sendKey without requestSeed → NRC 0x24', async () => {
    const h = new Harness();
    await h.one('10 02');
    assert.equal(await h.one('27 12 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F'), '7F 27 24');
  });
  it('ISO 14229-1 §13.2.4: checkMemory or checkProgrammingDependencies with nothing downloaded, results before a start → NRC 0x24', async () => {
    const h = await erasedBootloader();
    assert.equal(await h.one('31 01 02 02'), '7F 31 24');
    assert.equal(await h.one('31 01 FF 01 4F 54 53 4D'), '7F 31 24');
    assert.equal(await h.one('31 03 02 02'), '7F 31 24');
    assert.equal(await h.one('31 03 FF 00'), '71 03 FF 00 00'); // the erase did run
  });
});

describe('NRC 0x31 requestOutOfRange', () => {
  it('ISO 14229-1 §10.2.4: no requested DID is supported → NRC 0x31; unsupported ones are left out otherwise', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('22 12 34'), '7F 22 31');
    assert.equal(await h.one('22 12 34 F1 86'), '62 F1 86 01');
    assert.equal(await new Harness().one('22 01 00'), '7F 22 31'); // live data is the application's
  });
  it('ISO 14229-1 §13.2.4: an unknown routine, or an erase range outside the application region → NRC 0x31', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    assert.equal(await h.one('31 01 12 34'), '7F 31 31');
    assert.equal(await h.one(cat('31 01 FF 00', range44(0x0800_0000, 0x400))), '7F 31 31'); // the bootloader region
    assert.equal(await h.one(cat('31 01 FF 00', range44(APP_START, 0xe001))), '7F 31 31'); // one byte past the end
    assert.equal(await h.one('31 01 FF 00 50 08 00 20 00 00 00 04 00'), '7F 31 31'); // ALFID length nibble 5
    assert.equal(await h.one('31 01 FF 00 44 08 00 20 00 00 00 00 00'), '7F 31 31'); // memorySize 0
  });
  it('ISO 14229-1 §14.2.4: RequestDownload with compression/encryption, a bad ALFID, an odd address or outside the region → NRC 0x31', async () => {
    const h = await erasedBootloader();
    assert.equal(await h.one(cat('34 11', range44(APP_START, 0x100))), '7F 34 31');
    assert.equal(await h.one('34 00 05 08 00 20 00 00'), '7F 34 31');
    assert.equal(await h.one(cat('34 00', range44(APP_START + 1, 0x100))), '7F 34 31');
    assert.equal(await h.one(cat('34 00', range44(0x0800_1000, 0x100))), '7F 34 31');
  });
  it('ISO 14229-1 §14.5.4: RequestTransferExit with a transferRequestParameterRecord → NRC 0x31', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 2)));
    await h.one('36 01 AA BB');
    assert.equal(await h.one('37 12 34 56 78'), '7F 37 31');
  });
  it('ISO 14229-1 §10.7.4: a DID that is not writable, or a value out of range → NRC 0x31', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    await h.unlock(0x01);
    assert.equal(await h.one('2E F1 90 57 56 57 5A 5A 5A 31 4A 5A 58 57 30 30 30 30 30 31'), '7F 2E 31'); // VIN
    assert.equal(await h.one('2E 01 10 00 0A'), '7F 2E 31'); // 10 mm < 50 mm
    assert.equal(await h.one('2E F1 99 20 26 13 01'), '7F 2E 31'); // month 13
  });
  it('ISO 14229-1 §11.2.4/§11.3.4, §9.5.4, §9.9.4: unknown DTC or group, bad communicationType or option record → NRC 0x31', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('19 04 12 34 56 01'), '7F 19 31');
    assert.equal(await h.one('19 04 01 00 00 02'), '7F 19 31'); // no snapshot record 0x02
    assert.equal(await h.one('14 12 34 56'), '7F 14 31');
    await h.one('10 03');
    assert.equal(await h.one('28 03 00'), '7F 28 31');
    assert.equal(await h.one('85 02 01 02 03'), '7F 85 31');
  });
});

describe('NRC 0x33 securityAccessDenied', () => {
  it('ISO 14229-1 §7.5: RequestDownload, TransferData, RequestTransferExit while locked → NRC 0x33', async () => {
    const h = new Harness();
    await h.one('10 02');
    assert.equal(await h.one(cat('34 00', range44(APP_START, 0x100))), '7F 34 33');
    assert.equal(await h.one('36 01 00'), '7F 36 33');
    assert.equal(await h.one('37'), '7F 37 33');
  });
  it('ISO 14229-1 §13.2.4: the programming routines while locked → NRC 0x33', async () => {
    const h = new Harness();
    await h.one('10 02');
    assert.equal(await h.one(ERASE_ALL), '7F 31 33');
    assert.equal(await h.one('31 01 02 02'), '7F 31 33');
  });
  it('ISO 14229-1 §10.7.4: WriteDataByIdentifier in the extended session without level 0x01 → NRC 0x33', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    assert.equal(await h.one('2E F1 98 30 31 32 33 34 35 36 37 38 39'), '7F 2E 33');
    await h.unlock(0x01);
    assert.equal(await h.one('2E F1 98 30 31 32 33 34 35 36 37 38 39'), '6E F1 98');
  });
});

describe('NRC 0x35 / 0x36 / 0x37: SecurityAccess attempts and delay', () => {
  it('ISO 14229-1 §9.4.4: wrong key → 0x35, the third → 0x36, then 0x37 until the delay has passed', async () => {
    const h = new Harness({ lockoutMs: 10_000 });
    await h.one('10 02');
    const wrong = '27 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';
    await h.one('27 11');
    assert.equal(await h.one(wrong), '7F 27 35');
    await h.one('27 11');
    assert.equal(await h.one(wrong), '7F 27 35');
    await h.one('27 11');
    assert.equal(await h.one(wrong), '7F 27 36');
    assert.equal(await h.one('27 11'), '7F 27 37');
    h.clock.advance(9_999); // S3 (5 s) falls back to the default session meanwhile: enter programming again
    assert.equal(await h.one('10 02'), '50 02 00 32 01 F4');
    assert.equal(await h.one('27 11'), '7F 27 37');
    h.clock.advance(1);
    assert.equal(await h.unlock(0x11), '67 12');
  });
});

describe('NRC 0x70 uploadDownloadNotAccepted', () => {
  it('ISO 14229-1 §14.2.4: a download into pages not erased by routine 0xFF00, or already written → NRC 0x70', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    assert.equal(await h.one(cat('34 00', range44(APP_START, 0x100))), '7F 34 70'); // blank, but not erased by us
    assert.equal(await h.one(cat('31 01 FF 00', range44(APP_START, 0x400))), '71 01 FF 00 00');
    assert.equal(await h.one(cat('34 00', range44(APP_START, 0x401))), '7F 34 70'); // one byte into the next page
    await h.one(cat('34 00', range44(APP_START, 0x10)));
    await h.one(cat([0x36, 0x01], new Uint8Array(0x10)));
    await h.one('37');
    assert.equal(await h.one(cat('34 00', range44(APP_START, 0x10))), '7F 34 70'); // written since the erase
  });
});

describe('NRC 0x71 transferDataSuspended', () => {
  it('ISO 14229-1 §14.4.4: data beyond the requested memorySize → NRC 0x71, and the transfer is aborted', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 0x900)));
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x800))), '76 01');
    assert.equal(await h.one(cat([0x36, 0x02], new Uint8Array(0x101))), '7F 36 71');
    assert.equal(await h.one(cat([0x36, 0x02], new Uint8Array(0x100))), '7F 36 24');
  });
});

describe('NRC 0x72 generalProgrammingFailure', () => {
  it('ISO 14229-1 §14.4.4: a flash cell that does not program (PGERR) → NRC 0x72, and the transfer is aborted', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 0x800)));
    h.ecu.nvm.flash.programHalfWord(APP_START + 0x100, 0x1234); // a stuck cell under the download
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x800).fill(0xa5))), '7F 36 72');
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x800).fill(0xa5))), '7F 36 24');
  });
});

describe('NRC 0x73 wrongBlockSequenceCounter', () => {
  it('ISO 14229-1 §14.4.4: wrong block sequence counter → NRC 0x73, the transfer stays open', async () => {
    const h = await erasedBootloader();
    await h.one(cat('34 00', range44(APP_START, 0x1000)));
    assert.equal(await h.one(cat([0x36, 0x02], new Uint8Array(0x800))), '7F 36 73'); // the first block is 0x01
    assert.equal(await h.one(cat([0x36, 0x01], new Uint8Array(0x800))), '76 01');
    assert.equal(await h.one(cat([0x36, 0x03], new Uint8Array(0x800))), '7F 36 73'); // skipped 0x02
    assert.equal(await h.one(cat([0x36, 0x00], new Uint8Array(0x800))), '7F 36 73');
    assert.equal(await h.one(cat([0x36, 0x02], new Uint8Array(0x800))), '76 02');
  });
});

describe('NRC 0x7E subFunctionNotSupportedInActiveSession', () => {
  it('ISO 14229-1 §7.5: 10 02 from the application default session (extended first) → NRC 0x7E', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('10 02'), '7F 10 7E');
    assert.equal(h.ecu.mode, 'application');
  });
  it('ISO 14229-1 §7.5: security level 0x11 outside the programming session, level 0x01 inside it → NRC 0x7E', async () => {
    const app = harnessWithApplication();
    await app.one('10 03');
    assert.equal(await app.one('27 11'), '7F 27 7E');
    const boot = new Harness();
    await boot.one('10 02');
    assert.equal(await boot.one('27 01'), '7F 27 7E');
  });
});

describe('NRC 0x7F serviceNotSupportedInActiveSession', () => {
  it('ISO 14229-1 §7.5: services of the extended session in the default session → NRC 0x7F', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('27 01'), '7F 27 7F');
    assert.equal(await h.one('2E F1 98 30 30 30 30 30 30 30 30 30 30'), '7F 2E 7F');
    assert.equal(await h.one('85 02'), '7F 85 7F');
    assert.equal(await h.one('28 03 01'), '7F 28 7F');
  });
  it('ISO 14229-1 §7.5: programming services in the application, or in the bootloader outside the programming session → NRC 0x7F', async () => {
    const app = harnessWithApplication();
    await app.one('10 03');
    assert.equal(await app.one(cat('34 00', range44(APP_START, 0x100))), '7F 34 7F');
    assert.equal(await app.one(ERASE_ALL), '7F 31 7F');
    const boot = new Harness();
    await boot.one('10 03');
    assert.equal(await boot.one(ERASE_ALL), '7F 31 7F');
    assert.equal(await boot.one('36 01 00'), '7F 36 7F');
  });
});

describe('NRC 0x78 requestCorrectlyReceivedResponsePending', () => {
  let rel: Release;
  before(async () => {
    rel = await releaseFixture();
  });
  it('ISO 14229-2 (P2server, P2*server): an erase longer than P2 answers 7F 31 78 first; with SPR set the final response still follows', async () => {
    const h = new Harness({ trust: rel.trust, timing: true });
    await h.programmingUnlocked();
    const responses = await h.send(cat('31 81 FF 00', range44(APP_START, 0x2000)), { advanceMs: 500 });
    assert.deepEqual(responses, ['7F 31 78', '71 01 FF 00 00']);
  });
});
