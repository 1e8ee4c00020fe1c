/**
 * NRC paths a tester can reach, proven end to end through the real links (the server's own tests cover
 * them at handler level): each request goes through the UdsClient, the DoIP socket or the CAN bus, the
 * virtual ECU, and back as `7F SID NRC` → `UdsNegativeError` with that NRC as wireCode.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { UdsNegativeError } from '../../src/protocol/uds/index.js';
import { DEPENDENCY_RESULT, ECU_DID } from '../../src/ecu/server/index.js';
import type { UdsClient } from '../../src/gateway/uds/client.js';
import { FlashError, flashEcu } from '../../src/gateway/uds/flash.js';
import { makeApplicationImage, makeReleasePki, signImage, type ReleasePki } from './fixtures.js';
import { makeRig, type LinkKind, type Rig } from './rigs.js';

let pki: ReleasePki;
let foreign: ReleasePki;
const small = makeApplicationImage(7, 4096);

before(async () => {
  pki = await makeReleasePki();
  foreign = await makeReleasePki();
});

/** Asserts that `p` rejects with a negative response carrying `nrc`. */
async function expectNrc(p: Promise<unknown>, nrc: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UdsNegativeError, `expected a negative response, got ${String(e)}`);
    assert.equal(e.wireCode, nrc, `NRC 0x${e.nrc.toString(16)} instead of 0x${nrc.toString(16)}`);
    return true;
  });
}

const raw = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

/** Programming session and SecurityAccess 0x11 unlocked. */
async function programmingUnlocked(rig: Rig): Promise<UdsClient> {
  await rig.client.session(0x02);
  await rig.client.unlock(0x11, rig.secret);
  return rig.client;
}

for (const kind of ['doip', 'can'] as const satisfies readonly LinkKind[]) {
  describe(`NRC paths over ${kind}`, () => {
    let rig: Rig;
    before(async () => {
      rig = await makeRig(kind, { caPem: pki.ca.certPem, ecu: { lockoutMs: 60_000 } });
    });
    after(() => rig.close());

    it('a service outside its session → NRC 0x7F (RequestDownload in the default session)', async () => {
      await rig.client.session(0x01);
      await expectNrc(rig.client.request(raw('34 00 44 08002000 00001000')), 0x7f);
    });

    it('WriteDataByIdentifier without SecurityAccess → NRC 0x33', async () => {
      await rig.client.session(0x03);
      await expectNrc(rig.client.writeDid(0xf198, Buffer.from('WS00000001', 'latin1')), 0x33);
    });

    it('TransferData without RequestDownload → NRC 0x24', async () => {
      const client = await programmingUnlocked(rig);
      await expectNrc(client.request(raw('36 01 00 11 22 33')), 0x24);
    });

    it('RequestDownload outside the application region (into the bootloader) → NRC 0x31', async () => {
      const client = await programmingUnlocked(rig);
      await expectNrc(client.request(raw('34 00 44 08000000 00000400')), 0x31);
    });

    it('a wrong block sequence counter → NRC 0x73 (ISO 14229-1 §14.4.4)', async () => {
      const client = await programmingUnlocked(rig);
      await client.routine(0x01, 0xff00, raw('44 08002000 00000400'));
      await client.request(raw('34 00 44 08002000 00000400'));
      await expectNrc(client.request(raw('36 02 00 01 02 03')), 0x73);
      await client.request(raw('36 01 00 01 02 03')); // the transfer stays open: the right counter is accepted
    });

    it('a manifest signed under another CA is refused at 0xFF01 with NRC 0x22 and DID 0xFD01 says why', async () => {
      const { signed } = signImage(foreign, small);
      const e = await flashEcu(rig.client, { image: small, signedManifest: signed, secret: rig.secret }).then(
        () => assert.fail('the flash succeeded'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof FlashError);
      assert.deepEqual([e.code, e.phase, e.wireCode], ['FLASH_NRC', 'checking', 0x22]);
      const status = await rig.client.readDid(ECU_DID.programmingStatus);
      assert.equal(status[1], DEPENDENCY_RESULT.untrustedSigner);
      assert.equal(rig.ecu.mode, 'bootloader');
    });

    it('wrong keys → NRC 0x35, 0x35, 0x36, then 0x37 while the delay runs (ARCHITECTURE §2.4)', async () => {
      await rig.client.session(0x02);
      const wrong = rig.secret.map((b) => b ^ 0xff);
      for (const nrc of [0x35, 0x35, 0x36]) await expectNrc(rig.client.unlock(0x11, wrong), nrc);
      await expectNrc(rig.client.request(raw('27 11')), 0x37);
      // Even the right key is refused during the delay.
      await expectNrc(rig.client.unlock(0x11, rig.secret), 0x37);
    });
  });
}
