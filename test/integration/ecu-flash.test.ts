/**
 * The whole ARCHITECTURE.md §3 flash of the virtual STM32F103, from an Intel HEX file to the running
 * application, over a real DoIP TCP socket and over ISO-TP on the virtual CAN bus.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ECU_DID, BOOT_MODE_CODE, BOOT_REASON } from '../../src/ecu/server/index.js';
import { flashEcu, type FlashPhase } from '../../src/gateway/uds/flash.js';
import { APP_REGION, APP_SIZE, INITIAL_SP, makeApplicationImage, makeReleasePki, roundTripIntelHex, signImage, tempDir, type ReleasePki } from './fixtures.js';
import { CAN_MAX_BLOCK, DOIP_MAX_BLOCK, makeRig, type LinkKind } from './rigs.js';

let pki: ReleasePki;
let image: { address: number; data: Uint8Array };
let hexPath: string;
const tmp = tempDir('flash');

before(async () => {
  pki = await makeReleasePki();
  const written = roundTripIntelHex(tmp.dir, makeApplicationImage(0xc0ffee));
  image = written.image;
  hexPath = written.path;
});

after(() => tmp.cleanup());

describe('application image fixture', () => {
  it('is 56 KiB at 0x08002000 with a valid STM32 vector table, read back from Intel HEX', () => {
    assert.match(hexPath, /\.hex$/);
    assert.equal(image.address, APP_REGION.start);
    assert.equal(image.data.length, APP_SIZE);
    assert.equal(APP_SIZE, 56 * 1024);
    const view = new DataView(image.data.buffer, image.data.byteOffset);
    assert.equal(view.getUint32(0, true), INITIAL_SP);
    const reset = view.getUint32(4, true);
    assert.equal(reset & 1, 1, 'reset handler is a Thumb address');
    assert.ok(reset > APP_REGION.start && reset < APP_REGION.end, 'reset handler inside the application');
  });
});

for (const kind of ['doip', 'can'] as const satisfies readonly LinkKind[]) {
  describe(`flashEcu over ${kind === 'doip' ? 'DoIP (TCP 127.0.0.1)' : 'ISO-TP on the virtual CAN bus (0x7E0/0x7E8)'}`, () => {
    it('flashes the 56 KiB image, resets into the application, and DID 0xF189 shows the manifest version', async (t) => {
      const state = tempDir(`state-${kind}`);
      const rig = await makeRig(kind, { caPem: pki.ca.certPem, ecu: { stateDir: state.dir } });
      t.after(async () => {
        await rig.close();
        state.cleanup();
      });
      // A new ECU has no application: it runs its bootloader and says why.
      assert.equal(rig.ecu.mode, 'bootloader');
      assert.deepEqual(await rig.client.readDid(ECU_DID.bootState), Uint8Array.of(BOOT_MODE_CODE.bootloader, BOOT_REASON.noDescriptor));

      const { signed, manifest } = signImage(pki, image, { version: '3.1.4', counter: 7 });
      const phases: FlashPhase[] = [];
      let programmed = 0;
      const result = await flashEcu(rig.client, {
        image,
        signedManifest: signed,
        secret: rig.secret,
        onProgress: (phase, done) => {
          if (phases.at(-1) !== phase) phases.push(phase);
          if (phase === 'programming') programmed = done;
        },
        reconnect: rig.connect,
      });

      assert.equal(result.version, manifest.version);
      assert.equal(result.maxNumberOfBlockLength, kind === 'doip' ? DOIP_MAX_BLOCK : CAN_MAX_BLOCK);
      assert.equal(result.blocks, Math.ceil(APP_SIZE / (result.maxNumberOfBlockLength - 2)));
      assert.equal(programmed, APP_SIZE);
      assert.deepEqual(phases, ['preparing', 'unlocking', 'erasing', 'programming', 'checking', 'rebooting', 'verifying-version']);

      // The application runs, verified, and reports the manifest's version.
      assert.equal(rig.ecu.mode, 'application');
      assert.deepEqual(await result.client.readDid(ECU_DID.bootState), Uint8Array.of(BOOT_MODE_CODE.application, BOOT_REASON.applicationStarted));
      assert.equal(Buffer.from(await result.client.readDid(0xf189)).toString('latin1'), '3.1.4');
      assert.deepEqual(rig.ecu.nvm.flash.read(image.address, image.data.length), image.data);
    });

    it('reflashes a running application (the application hands over to the bootloader on 10 02)', async (t) => {
      const rig = await makeRig(kind, { caPem: pki.ca.certPem });
      t.after(() => rig.close());
      const first = signImage(pki, image, { version: '1.0.0', counter: 1 });
      const r1 = await flashEcu(rig.client, { image, signedManifest: first.signed, secret: rig.secret, reconnect: rig.connect });
      assert.equal(rig.ecu.mode, 'application');
      const next = makeApplicationImage(0xbeef, 16 * 1024);
      const second = signImage(pki, next, { version: '1.1.0', counter: 2 });
      const r2 = await flashEcu(r1.client, { image: next, signedManifest: second.signed, secret: rig.secret, reconnect: rig.connect });
      assert.equal(r2.version, '1.1.0');
      assert.equal(rig.ecu.mode, 'application');
    });
  });
}
