import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { UdsClient } from '../../../src/gateway/uds/client.js';
import { FlashError, flashEcu, type FlashOptions, type FlashPhase } from '../../../src/gateway/uds/flash.js';
import { FakeBootloader, handlerLink, hex, pseudoRandomBytes, signedManifestFor, type FakeEcuFaults } from './helpers.js';

const IMAGE = { address: 0x0800_2000, data: pseudoRandomBytes(20_000, 3) };
let signed: Uint8Array;

before(async () => {
  signed = (await signedManifestFor(IMAGE, { version: '2.0.1' })).signed;
});

/** A fake bootloader granting `maxBlock`, a client on a fake clock, and the requests it sends. */
function rig(maxBlock: number, faults: FakeEcuFaults = {}): { ecu: FakeBootloader; client: UdsClient; trace: Uint8Array[]; clock: FakeClock } {
  const ecu = new FakeBootloader(maxBlock, faults);
  const trace: Uint8Array[] = [];
  const clock = new FakeClock();
  const client = new UdsClient(handlerLink(ecu, trace), { clock, keepAlive: false });
  return { ecu, client, trace, clock };
}

function options(ecu: FakeBootloader, extra: Partial<FlashOptions> = {}): FlashOptions {
  return { image: IMAGE, signedManifest: signed, secret: ecu.secret, ...extra };
}

async function flashError(p: Promise<unknown>): Promise<FlashError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FlashError, `expected a FlashError, got ${String(e)}`);
    return e;
  }
  assert.fail('the flash succeeded');
}

describe('flashEcu', () => {
  it('runs the ARCHITECTURE §3 sequence byte for byte and returns the new version', async () => {
    const { ecu, client, trace } = rig(0x0102); // 256 data bytes per block → 79 blocks
    const result = await flashEcu(client, options(ecu));
    assert.equal(result.version, '2.0.1');
    assert.equal(result.blocks, Math.ceil(IMAGE.data.length / 256));
    const sids = trace.map((b) => hex(b.subarray(0, 2)));
    const head = trace.slice(0, 9).map(hex);
    assert.deepEqual(head.slice(0, 4), ['1003', '8502', '280301', '1002']);
    assert.equal(head[4], '2711');
    assert.ok(head[5]?.startsWith('2712') && head[5].length === 4 + 32, '27 12 with a 16-byte key');
    // 31 01 FF 00 <ALFID 44> <address:4> <size:4>
    assert.equal(head[6], '3101ff0044' + '08002000' + IMAGE.data.length.toString(16).padStart(8, '0'));
    // 34 00 44 <address:4> <size:4>
    assert.equal(head[7], '340044' + '08002000' + IMAGE.data.length.toString(16).padStart(8, '0'));
    assert.equal(head[8]?.slice(0, 4), '3601');
    assert.equal(trace[8]?.length, 0x0102, 'a block fills maxNumberOfBlockLength exactly');
    const tail = trace.slice(9 + result.blocks - 1).map((b) => hex(b.subarray(0, 4)));
    assert.deepEqual(tail, ['37', '31010202', '3101ff01', '1101', '22f189']);
    assert.equal(hex((trace[9 + result.blocks + 1] as Uint8Array).subarray(4)), hex(signed), 'the option record is the signed manifest');
    assert.equal(sids.filter((s) => s.startsWith('36')).length, result.blocks);
  });

  it('with a CRL: 31 01 02 03 <CRL> right after 27 12, before the erase (flash-sequence.md step 3a); a bootloader without routine 0x0203 (NRC 0x31) is flashed all the same', async () => {
    const crl = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x07); // the bytes are the ECU's to judge; the fake has no routine 0x0203
    const { ecu, client, trace } = rig(0x0402);
    const result = await flashEcu(client, options(ecu, { crl }));
    assert.equal(result.version, '2.0.1');
    const head = trace.slice(4, 8).map(hex);
    assert.equal(head[0], '2711');
    assert.ok(head[1]?.startsWith('2712'));
    assert.equal(head[2], '31010203' + hex(crl));
    assert.ok(head[3]?.startsWith('3101ff00'), 'the erase follows');
  });

  it('with a CRL the bootloader refuses otherwise (NRC 0x22: not signed by its CA): the flash stops before the erase', async () => {
    const { ecu, client, trace } = rig(0x0402, { refuseRoutine: new Map([[0x0203, 0x22]]) });
    const err = await flashError(flashEcu(client, options(ecu, { crl: Uint8Array.of(0x30, 0x00) })));
    assert.deepEqual([err.code, err.phase, err.nrc], ['FLASH_NRC', 'unlocking', 0x22]);
    assert.equal(trace.some((b) => hex(b.subarray(0, 4)) === '3101ff00'), false);
  });

  it('wraps the block sequence counter 0xFF → 0x00 (ISO 14229-1 §14.4.2)', async () => {
    const { ecu, client, trace } = rig(66); // 64 data bytes → 313 blocks
    await flashEcu(client, options(ecu));
    const bscs = trace.filter((b) => b[0] === 0x36).map((b) => b[1]);
    assert.equal(bscs.length, 313);
    assert.deepEqual(bscs.slice(0, 2), [0x01, 0x02]);
    assert.deepEqual(bscs.slice(254, 257), [0xff, 0x00, 0x01]);
  });

  it('reports progress per phase, with bytes while programming', async () => {
    const { ecu, client } = rig(0x0402);
    const seen: Array<[FlashPhase, number, number]> = [];
    await flashEcu(client, options(ecu, { onProgress: (phase, done, total) => seen.push([phase, done, total]) }));
    const phases = [...new Set(seen.map(([p]) => p))];
    assert.deepEqual(phases, ['preparing', 'unlocking', 'erasing', 'programming', 'checking', 'rebooting', 'verifying-version']);
    const programming = seen.filter(([p]) => p === 'programming');
    assert.deepEqual(programming[0], ['programming', 0, IMAGE.data.length]);
    assert.deepEqual(programming.at(-1), ['programming', IMAGE.data.length, IMAGE.data.length]);
    assert.ok(programming.every(([, d], i) => i === 0 || d > (programming[i - 1]?.[1] ?? 0)));
  });

  it('adds no idle time: the whole flash runs without the clock moving', async () => {
    // Every wait of the tester is a timer on its clock; a fake clock that never advances would hang any sleep.
    const { ecu, client, clock } = rig(0x0102, { erasePending: 5 });
    const result = await flashEcu(client, options(ecu));
    assert.equal(clock.now(), 0);
    assert.equal(result.phaseMs.programming, 0);
  });

  it('tolerates NRC 0x11/0x12/0x7E/0x7F on the optional steps 85 02 and 28 03 01', async () => {
    for (const [dtcNrc, ccNrc] of [[0x11, 0x7f], [0x12, 0x7e]] as const) {
      const { ecu, client } = rig(0x0202, { refuse: new Map([[0x85, dtcNrc], [0x28, ccNrc]]) });
      assert.equal((await flashEcu(client, options(ecu))).version, '2.0.1');
    }
  });

  it('fails in phase preparing with the NRC when an optional step is refused otherwise (0x22)', async () => {
    const { ecu, client } = rig(0x0202, { refuse: new Map([[0x85, 0x22]]) });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.equal(e.code, 'FLASH_NRC');
    assert.equal(e.phase, 'preparing');
    assert.equal(e.wireCode, 0x22);
    assert.equal(e.requestSid, 0x85);
  });

  it('fails in phase unlocking with NRC 0x35 for a wrong secret', async () => {
    const { ecu, client } = rig(0x0202);
    const e = await flashError(flashEcu(client, options(ecu, { secret: new Uint8Array(32) })));
    assert.deepEqual([e.code, e.phase, e.wireCode], ['FLASH_NRC', 'unlocking', 0x35]);
  });

  it('fails in phase programming with the NRC of a refused transfer', async () => {
    const { ecu, client } = rig(0x0202, { refuse: new Map([[0x36, 0x72]]) });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.deepEqual([e.code, e.phase, e.wireCode, e.requestSid], ['FLASH_NRC', 'programming', 0x72, 0x36]);
  });

  it('fails in phase checking with FLASH_DIGEST_MISMATCH when check memory reports another SHA-256', async () => {
    const { ecu, client, trace } = rig(0x0202, { wrongDigest: true });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.deepEqual([e.code, e.phase], ['FLASH_DIGEST_MISMATCH', 'checking']);
    assert.ok(!trace.some((b) => hex(b.subarray(0, 4)) === '3101ff01'), 'no manifest is sent after a digest mismatch');
  });

  it('reads the digest after a 0x00 status byte, and refuses another status with FLASH_PROTOCOL', async () => {
    const ok = rig(0x0202, { digestStatus: 0x00 });
    assert.equal((await flashEcu(ok.client, options(ok.ecu))).version, '2.0.1');
    const bad = rig(0x0202, { digestStatus: 0x01 });
    const e = await flashError(flashEcu(bad.client, options(bad.ecu)));
    assert.deepEqual([e.code, e.phase], ['FLASH_PROTOCOL', 'checking']);
  });

  it('fails in phase checking with the NRC when the ECU refuses the manifest', async () => {
    const { ecu, client } = rig(0x0202, { refuseRoutine: new Map([[0xff01, 0x72]]) });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.deepEqual([e.code, e.phase, e.wireCode, e.requestSid], ['FLASH_NRC', 'checking', 0x72, 0x31]);
    assert.equal(ecu.resets, 0, 'no reset after a refused manifest');
  });

  it('fails in phase erasing with the NRC of a refused erase (0x31 outside the application region)', async () => {
    const { ecu, client } = rig(0x0202, { refuseRoutine: new Map([[0xff00, 0x31]]) });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.deepEqual([e.code, e.phase, e.wireCode], ['FLASH_NRC', 'erasing', 0x31]);
  });

  it('refuses an image its manifest does not describe before sending anything (FLASH_IMAGE_MISMATCH)', async () => {
    const { ecu, client, trace } = rig(0x0202);
    const other = { address: IMAGE.address, data: Uint8Array.from(IMAGE.data).fill(0, 0, 1) };
    const e = await flashError(flashEcu(client, options(ecu, { image: other })));
    assert.deepEqual([e.code, e.phase], ['FLASH_IMAGE_MISMATCH', 'preparing']);
    assert.equal(trace.length, 0);
  });

  it('fails with FLASH_VERSION_MISMATCH when the restarted ECU reports another version', async () => {
    const { ecu, client } = rig(0x0202, { versionOverride: '1.0.0' });
    const e = await flashError(flashEcu(client, options(ecu)));
    assert.deepEqual([e.code, e.phase], ['FLASH_VERSION_MISMATCH', 'verifying-version']);
  });

  it('waits for a rebooting ECU: unanswered version reads are retried until it answers', async () => {
    const ecu = new FakeBootloader(0x0202, { silentAfterReset: 2 });
    const client = new UdsClient(handlerLink(ecu), { keepAlive: false, marginMs: 5, p2Ms: 5 });
    const result = await flashEcu(client, options(ecu, { rebootRetryMs: 1 }));
    assert.equal(result.version, '2.0.1');
  });

  it('reconnects when the link went down with the reset', async () => {
    const ecu = new FakeBootloader(0x0202);
    let down = false;
    const link = handlerLink(ecu);
    const failing = { ...link, send: (r: Uint8Array) => (down ? Promise.reject(new Error('socket closed')) : link.send(r)) };
    const client = new UdsClient(failing, { keepAlive: false });
    const origReset = client.reset.bind(client);
    client.reset = async (type, opts) => {
      const res = await origReset(type, opts);
      down = true;
      return res;
    };
    let reconnects = 0;
    const result = await flashEcu(client, options(ecu, {
      rebootRetryMs: 1,
      reconnect: () => {
        reconnects++;
        return Promise.resolve(new UdsClient(handlerLink(ecu), { keepAlive: false }));
      },
    }));
    assert.equal(reconnects, 1);
    assert.notEqual(result.client, client);
    assert.equal(result.version, '2.0.1');
  });

  it('gives up after rebootTimeoutMs with FLASH_TIMEOUT in phase verifying-version', async () => {
    const ecu = new FakeBootloader(0x0202, { silentAfterReset: 1000 });
    const client = new UdsClient(handlerLink(ecu), { keepAlive: false, marginMs: 5, p2Ms: 5 });
    const e = await flashError(flashEcu(client, options(ecu, { rebootTimeoutMs: 60, rebootRetryMs: 1 })));
    assert.deepEqual([e.code, e.phase], ['FLASH_TIMEOUT', 'verifying-version']);
  });
});
