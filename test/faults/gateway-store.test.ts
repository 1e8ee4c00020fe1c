/**
 * The gateway's update store under faults (update-flow.md, "What each failure leaves behind"): a real TLS
 * broker, a scripted manager, a real virtual ECU on a virtual CAN bus, and the store's file-system port
 * (StoreFs) refusing writes with ENOSPC when a test says so.
 *
 *   disk full when the flash ends           → done is reported (kept in memory), the ECU runs the image, the
 *                                             next job is not refused GW_BUSY; the record is written later
 *   a status listener that throws mid-flash → the flash runs to its end (the ECU is not left in its bootloader)
 *   disk full when the offer comes           → not failed: queued with GW_STORE_FULL; the re-offer after
 *                                             space returns downloads and installs
 *   disk full mid-download                   → chunks not held are asked for again; the job completes
 *   a byte of image.bin changed on disk      → GW_STORE_CORRUPT (not FW_DIGEST_MISMATCH), chunks discarded,
 *                                             downloaded again, done
 *   a bitmap claiming every chunk (restart)  → the same: GW_STORE_CORRUPT, downloaded again, done
 */
import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../../src/gateway/index.js';
import { nodeStoreFs, type StoreFs } from '../../src/gateway/update/store.js';
import type { AnnounceMessage, ControlMessage } from '../../src/protocol/ota/messages.js';
import { bitmapFromBase64, type UpdateStatusMessage } from '../../src/protocol/ota/update-messages.js';
import { until } from '../gateway/harness.js';
import { isAccept, isFinal, isStatus, makeOffer, makeRelease, startGateway, tempIn, TestEcu, updateFixture, UpdateManager, type UpdateFixture } from '../gateway/update/rig.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';

/** The real store writes, or ENOSPC while `full` (optionally only for paths/descriptors `only` accepts). */
class FullDisk implements StoreFs {
  full = false;
  refused = 0;
  private fail(): never {
    this.refused++;
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  }
  writeFile(path: string, data: Uint8Array | string, durable: boolean): void {
    if (this.full) this.fail();
    nodeStoreFs.writeFile(path, data, durable);
  }
  writeAt(fd: number, data: Uint8Array, offset: number, length: number, position: number): void {
    if (this.full) this.fail();
    nodeStoreFs.writeAt(fd, data, offset, length, position);
  }
}

const held = (have: string, chunks: number): number => {
  const bits = bitmapFromBase64(have, chunks);
  return Array.from({ length: chunks }, (_, i) => i).filter((i) => (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1).length;
};

describe('gateway update store faults', { timeout: 110_000 }, () => {
  let fx: UpdateFixture;
  before(async () => {
    fx = await updateFixture();
  });
  after(async () => {
    await fx.close();
  });

  /** A fresh ECU, gateway (with `disk` as its store's file system) and scripted manager; `run` gets them. */
  async function withVehicle(disk: FullDisk, run: (v: { ecu: TestEcu; gw: Gateway; manager: UpdateManager; dataDir: string }) => Promise<void>, extra: Parameters<typeof startGateway>[3] = {}): Promise<void> {
    const ecu = new TestEcu(fx);
    const manager = await new UpdateManager(fx.f, fx.broker.url).start();
    const dataDir = tempIn(fx, 'gateway');
    let gw: Gateway | undefined;
    try {
      gw = await startGateway(fx, ecu, dataDir, { ...extra, update: { statusIntervalMs: 0, fs: disk, ...extra.update } });
      await manager.next(isAnnounce, 10_000);
      await run({ ecu, gw, manager, dataDir });
    } finally {
      await gw?.close();
      await manager.stop();
      ecu.close();
    }
  }

  it('disk full when the flash ends: done is reported from memory, the ECU runs the image, the next job is not GW_BUSY', async () => {
    const disk = new FullDisk();
    await withVehicle(disk, async ({ ecu, gw, manager, dataDir }) => {
      gw.on('update', (s: UpdateStatusMessage) => {
        if (s.phase === 'rebooting') disk.full = true; // the disk fills up while the ECU reboots into the new image
      });
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 11 });
      const offer = makeOffer(fx, release, { jobId: 'job-full-at-end', chunkSize: 1024 });
      await manager.send(offer);
      await manager.download(release, offer, await manager.next(isAccept('job-full-at-end'), 10_000));
      const final = await manager.next(isFinal('job-full-at-end'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.equal(final.version, '2.0.0');
      assert.equal(ecu.version, '2.0.0');
      assert.equal(ecu.ecu.mode, 'application', 'not left in the bootloader');
      assert.ok(gw.stats.updates.diskFull > 0 && disk.refused > 0);
      const onDisk = JSON.parse(readFileSync(join(dataDir, 'updates', 'job-full-at-end', 'job.json'), 'utf8')) as { phase: string };
      assert.equal(onDisk.phase, 'flashing', 'the outcome could not be written');

      // Space returns: the next job for the same ECU is accepted (not GW_BUSY), and the kept record is written.
      disk.full = false;
      const next = makeRelease(fx, { version: '2.1.0', counter: 3, seed: 12 });
      const offer2 = makeOffer(fx, next, { jobId: 'job-after-full', chunkSize: 1024 });
      await manager.send(offer2);
      const accept = await manager.next(isAccept('job-after-full'), 10_000);
      assert.equal(held(accept.have, offer2.chunks), 0);
      assert.equal(gw.stats.refused['GW_BUSY'], undefined);
      const written = JSON.parse(readFileSync(join(dataDir, 'updates', 'job-full-at-end', 'job.json'), 'utf8')) as { phase: string };
      assert.equal(written.phase, 'done');
      await manager.download(next, offer2, accept);
      const done2 = await manager.next(isFinal('job-after-full'), 30_000);
      assert.equal(done2.phase, 'done', JSON.stringify(done2.error));
      assert.equal(ecu.version, '2.1.0');
    });
  });

  it('a status listener that throws mid-programming does not abort the flash', async () => {
    await withVehicle(new FullDisk(), async ({ ecu, gw, manager }) => {
      gw.on('update', (s: UpdateStatusMessage) => {
        if (s.phase === 'programming') throw Object.assign(new Error('ENOSPC: cannot append to the vehicle log'), { code: 'ENOSPC' });
      });
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 13, size: 12 * 1024 });
      const offer = makeOffer(fx, release, { jobId: 'job-log-throws', chunkSize: 1024 });
      await manager.send(offer);
      await manager.download(release, offer, await manager.next(isAccept('job-log-throws'), 10_000));
      const final = await manager.next(isFinal('job-log-throws'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.deepEqual([ecu.version, ecu.ecu.mode], ['2.0.0', 'application']);
    });
  });

  it('disk full when the offer comes: queued with GW_STORE_FULL (not failed); after space returns the re-offer installs', async () => {
    const disk = new FullDisk();
    await withVehicle(disk, async ({ ecu, manager }) => {
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 14 });
      const offer = makeOffer(fx, release, { jobId: 'job-full-offer', chunkSize: 1024 });
      disk.full = true;
      await manager.send(offer);
      const status = await manager.next(isStatus('job-full-offer'), 10_000);
      assert.deepEqual([status.phase, status.error?.code], ['queued', 'GW_STORE_FULL']);
      disk.full = false;
      await manager.send(offer); // the manager's offer timer
      await manager.download(release, offer, await manager.next(isAccept('job-full-offer'), 10_000));
      const final = await manager.next(isFinal('job-full-offer'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.equal(ecu.version, '2.0.0');
    });
  });

  it('disk full mid-download: the chunks not stored are asked for again after space returns; the job completes', async () => {
    const disk = new FullDisk();
    await withVehicle(disk, async ({ ecu, gw, manager }) => {
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 15, size: 8 * 1024 });
      const offer = makeOffer(fx, release, { jobId: 'job-full-mid', chunkSize: 512 }); // 16 chunks
      await manager.send(offer);
      const accept = await manager.next(isAccept('job-full-mid'), 10_000);
      await manager.download(release, offer, accept, { only: [0, 1, 2, 3, 4] });
      // Acknowledged = stored and synced (acks follow durability): only then may the disk fill without
      // taking these five with it (on a loaded machine their sync may still be pending otherwise).
      await until(() => manager.seen('job-full-mid').some((m) => m.type === 'update.ack' && m.next >= 5), 5000, 'five chunks stored and acknowledged');
      disk.full = true;
      await manager.download(release, offer, accept, { only: [5, 6, 7] });
      await until(() => gw.stats.updates.diskFull >= 3, 5000, 'three chunks refused by the full disk');
      disk.full = false;
      await manager.send(offer); // the manager's ack timeout re-offers
      const again = await manager.next(isAccept('job-full-mid'), 10_000);
      assert.equal(held(again.have, offer.chunks), 5, 'the refused chunks are not claimed');
      await manager.download(release, offer, again);
      const final = await manager.next(isFinal('job-full-mid'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.equal(ecu.version, '2.0.0');
    });
  });

  it('a byte of image.bin changed on disk: GW_STORE_CORRUPT, not FW_DIGEST_MISMATCH; downloaded again and installed', async () => {
    await withVehicle(new FullDisk(), async ({ ecu, gw, manager, dataDir }) => {
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 16, size: 8 * 1024 });
      const offer = makeOffer(fx, release, { jobId: 'job-bitrot', chunkSize: 1024 }); // 8 chunks
      await manager.send(offer);
      const accept = await manager.next(isAccept('job-bitrot'), 10_000);
      await manager.download(release, offer, accept, { only: [0, 1, 2, 3, 4, 5, 6] });
      await until(() => gw.stats.updates.chunks === 7, 5000, 'seven chunks stored');
      const fd = openSync(join(dataDir, 'updates', 'job-bitrot', 'image.bin'), 'r+');
      try {
        writeSync(fd, Uint8Array.of((release.image[100] as number) ^ 0xff), 0, 1, 100); // a bad sector
      } finally {
        closeSync(fd);
      }
      await manager.download(release, offer, accept, { only: [7] });
      const status = await manager.next(isStatus('job-bitrot', 'downloading'), 10_000);
      assert.equal(status.error?.code, 'GW_STORE_CORRUPT');
      assert.equal(manager.seen('job-bitrot').some((m) => m.type === 'update.status' && (m.phase === 'failed' || m.phase === 'erasing')), false, 'not failed, the ECU not touched');
      assert.equal(ecu.version, '1.0.0-factory');
      await manager.send(offer); // the manager re-offers a job back to downloading
      const again = await manager.next(isAccept('job-bitrot'), 10_000);
      assert.equal(held(again.have, offer.chunks), 0, 'every chunk discarded');
      await manager.download(release, offer, again);
      const final = await manager.next(isFinal('job-bitrot'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.equal(ecu.version, '2.0.0');
      assert.equal(gw.stats.updates.redownloads, 1);
    });
  });

  it('a bitmap claiming every chunk after a restart: GW_STORE_CORRUPT, downloaded again and installed', async () => {
    const ecu = new TestEcu(fx);
    const manager = await new UpdateManager(fx.f, fx.broker.url).start();
    const dataDir = tempIn(fx, 'gateway');
    let gw: Gateway | undefined;
    try {
      const g1 = await startGateway(fx, ecu, dataDir, { update: { statusIntervalMs: 0 } });
      gw = g1;
      await manager.next(isAnnounce, 10_000);
      const release = makeRelease(fx, { version: '2.0.0', counter: 2, seed: 17, size: 8 * 1024 });
      const offer = makeOffer(fx, release, { jobId: 'job-bad-bitmap', chunkSize: 1024 });
      await manager.send(offer);
      await manager.download(release, offer, await manager.next(isAccept('job-bad-bitmap'), 10_000), { only: [0, 1, 2] });
      await until(() => g1.stats.updates.chunks === 3, 5000, 'three chunks stored');
      await g1.close({ abrupt: true });
      writeFileSync(join(dataDir, 'updates', 'job-bad-bitmap', 'chunks.bitmap'), Uint8Array.of(0xff)); // 8 chunks "held"
      gw = await startGateway(fx, ecu, dataDir, { update: { statusIntervalMs: 0 } });
      await manager.next(isAnnounce, 10_000);
      await manager.send(offer);
      const full = await manager.next(isAccept('job-bad-bitmap'), 10_000);
      assert.equal(held(full.have, offer.chunks), 8);
      const status = await manager.next(isStatus('job-bad-bitmap', 'downloading'), 10_000);
      assert.equal(status.error?.code, 'GW_STORE_CORRUPT');
      await manager.send(offer);
      const again = await manager.next(isAccept('job-bad-bitmap'), 10_000);
      assert.equal(held(again.have, offer.chunks), 0);
      await manager.download(release, offer, again);
      const final = await manager.next(isFinal('job-bad-bitmap'), 30_000);
      assert.equal(final.phase, 'done', JSON.stringify(final.error));
      assert.equal(ecu.version, '2.0.0');
    } finally {
      await gw?.close();
      await manager.stop();
      ecu.close();
    }
  });
});
