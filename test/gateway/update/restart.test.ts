// The update agent across a gateway restart (killed abruptly, restarted on the same data directory,
// the ECU and broker staying up): mid-download it resumes from its bitmap; mid-programming it flashes
// again from the stored, verified image.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gateway } from '../../../src/gateway/index.js';
import type { AnnounceMessage, ControlMessage } from '../../../src/protocol/ota/messages.js';
import { bitmapFromBase64, type UpdateStatusMessage } from '../../../src/protocol/ota/update-messages.js';
import { until } from '../harness.js';
import { isAccept, isFinal, makeOffer, makeRelease, startGateway, tempIn, TestEcu, updateFixture, UpdateManager, type UpdateFixture } from './rig.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';

function heldIndexes(have: string, chunks: number): number[] {
  const bits = bitmapFromBase64(have, chunks);
  return Array.from({ length: chunks }, (_, i) => i).filter((i) => (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1);
}

describe('update agent across gateway restarts', () => {
  let fx: UpdateFixture;
  before(async () => {
    fx = await updateFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('resumes a download after a restart: the accept carries the bitmap and only missing chunks are requested', async () => {
    const ecu = new TestEcu(fx);
    const manager = await new UpdateManager(fx.f, fx.broker.url).start();
    const dataDir = tempIn(fx, 'gateway');
    let gw: Gateway | undefined;
    try {
      gw = await startGateway(fx, ecu, dataDir);
      await manager.next(isAnnounce, 10_000);
      const release = makeRelease(fx, { version: '2.1.0', counter: 2, size: 8 * 1024, seed: 5 });
      const offer = makeOffer(fx, release, { jobId: 'job-resume', chunkSize: 512 }); // 16 chunks
      await manager.send(offer);
      const first = await manager.next(isAccept('job-resume'), 10_000);
      const sentBefore = [0, 1, 2, 3, 4, 5, 6, 10];
      await manager.download(release, offer, first, { only: sentBefore });
      const g1 = gw;
      await until(() => g1.stats.updates.chunks === sentBefore.length, 5000, 'the chunks stored');
      await g1.close({ abrupt: true }); // power loss of the telematics unit

      gw = await startGateway(fx, ecu, dataDir);
      await manager.next(isAnnounce, 10_000); // a new session: the manager re-offers
      manager.chunksSent.length = 0;
      await manager.send(offer);
      const again = await manager.next(isAccept('job-resume'), 10_000);
      assert.deepEqual(heldIndexes(again.have, offer.chunks), sentBefore);
      await manager.download(release, offer, again);
      assert.deepEqual(manager.chunksSent, [7, 8, 9, 11, 12, 13, 14, 15]);
      const done = await manager.next(isFinal('job-resume'), 30_000);
      assert.equal(done.phase, 'done', JSON.stringify(done.error));
      assert.equal(done.version, '2.1.0');
      assert.equal(gw.stats.updates.chunks, 8);
      assert.equal(gw.stats.updates.duplicateChunks, 0);
      assert.equal(gw.stats.updates.resumed, 1);
      assert.equal(ecu.version, '2.1.0');
    } finally {
      await gw?.close();
      await manager.stop();
      ecu.close();
    }
  });

  it('completes a flash the restart interrupted mid-programming, from the stored image, and reports done', async () => {
    const ecu = new TestEcu(fx);
    const manager = await new UpdateManager(fx.f, fx.broker.url).start();
    const dataDir = tempIn(fx, 'gateway');
    let gw: Gateway | undefined;
    try {
      const g1 = await startGateway(fx, ecu, dataDir, { update: { statusIntervalMs: 0 } });
      gw = g1;
      await manager.next(isAnnounce, 10_000);
      const release = makeRelease(fx, { version: '2.2.0', counter: 2, size: 20 * 1024, seed: 6 });
      const offer = makeOffer(fx, release, { jobId: 'job-power-loss', chunkSize: 2048 });
      const killed = new Promise<UpdateStatusMessage>((resolve) => {
        const onStatus = (s: UpdateStatusMessage): void => {
          // Programming 4093-byte blocks of 20 KiB: kill after the second block, the application erased.
          if (s.phase === 'programming' && s.percent >= 35) {
            g1.off('update', onStatus);
            void g1.close({ abrupt: true });
            resolve(s);
          }
        };
        g1.on('update', onStatus);
      });
      await manager.send(offer);
      await manager.download(release, offer, await manager.next(isAccept('job-power-loss'), 10_000));
      const at = await killed;
      assert.ok(at.percent < 100);
      await until(() => ecu.ecu.mode === 'bootloader', 3000, 'the ECU in its bootloader');
      assert.equal(ecu.nvm.application.descriptor(), null, 'the erase invalidated the old application');
      const job = JSON.parse(readFileSync(join(dataDir, 'updates', 'job-power-loss', 'job.json'), 'utf8')) as { phase: string };
      assert.equal(job.phase, 'flashing');

      // Restart: the agent finds the verified image, flashes again, and reports done once a session is up.
      gw = await startGateway(fx, ecu, dataDir);
      const done = await manager.next(isFinal('job-power-loss'), 30_000);
      assert.equal(done.phase, 'done', JSON.stringify(done.error));
      assert.equal(done.version, '2.2.0');
      assert.equal(ecu.version, '2.2.0');
      assert.equal(gw.stats.updates.recovered, 1);
      assert.equal(gw.stats.updates.chunks, 0, 'nothing downloaded again');
      const after = JSON.parse(readFileSync(join(dataDir, 'updates', 'job-power-loss', 'job.json'), 'utf8')) as { phase: string; reported: boolean };
      assert.deepEqual([after.phase, after.reported], ['done', true]);
      const g2 = gw;
      await until(() => g2.inventory[0]?.appVersion === '2.2.0', 5000, 'the inventory refreshed');
    } finally {
      await gw?.close();
      await manager.stop();
      ecu.close();
    }
  });
});
