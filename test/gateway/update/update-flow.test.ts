// The gateway's update agent end to end: a real TLS broker, a scripted manager (channel + messages +
// signAssignment), a real virtual ECU on a virtual CAN bus. One gateway and ECU for the whole file: the
// first test installs release 2.0.0 (counter 2), the later ones build on that state.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gateway } from '../../../src/gateway/index.js';
import type { AnnounceMessage, ControlMessage, DiagResponseMessage } from '../../../src/protocol/ota/messages.js';
import type { UpdateOfferMessage, UpdateStatusMessage } from '../../../src/protocol/ota/update-messages.js';
import { until } from '../harness.js';
import { isAccept, isAck, isFinal, makeOffer, makeRelease, startGateway, tempIn, TestEcu, updateFixture, UpdateManager, type UpdateFixture } from './rig.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';
const responseTo = (id: string) => (m: ControlMessage): m is DiagResponseMessage => m.type === 'diag.response' && m.id === id;

describe('update agent: offer → accept → chunks → verify → flash → done', () => {
  let fx: UpdateFixture;
  let ecu: TestEcu;
  let gw: Gateway;
  let manager: UpdateManager;
  let dataDir: string;
  let fullOffer: UpdateOfferMessage;

  before(async () => {
    fx = await updateFixture();
    ecu = new TestEcu(fx);
    manager = await new UpdateManager(fx.f, fx.broker.url).start();
    dataDir = tempIn(fx, 'gateway');
    // No idle acknowledgement here (ackIdleMs): the cadence asserted below is the window/2 one; slow-link.test.ts covers the idle one.
    gw = await startGateway(fx, ecu, dataDir, { update: { window: 8, ackIdleMs: 60_000 } });
    const announce = await manager.next(isAnnounce, 10_000);
    assert.equal(announce.ecus[0]?.appVersion, '1.0.0-factory');
    assert.ok(announce.gateway.capabilities.includes('update'));
  });
  after(async () => {
    await gw.close();
    await manager.stop();
    ecu.close();
    await fx.close();
  });

  /** Offers `offer` and expects it refused with `code` before anything is downloaded; the ECU stays as it was. */
  async function expectRefused(offer: UpdateOfferMessage, code: string): Promise<void> {
    const before = ecu.snapshot();
    const chunksBefore = gw.stats.updates.chunks;
    await manager.send(offer);
    const final = await manager.next(isFinal(offer.jobId), 10_000);
    assert.equal(final.phase, 'failed');
    assert.equal(final.error?.code, code);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(manager.seen(offer.jobId).filter((m) => m.type === 'update.accept').length, 0, 'no chunk was requested');
    assert.deepEqual(ecu.snapshot(), before, 'the ECU is untouched');
    assert.equal(gw.stats.updates.chunks, chunksBefore);
    assert.equal(gw.stats.refused[code] !== undefined && gw.stats.refused[code] > 0, true);
  }

  it('installs a signed release: acks under the window, live phases, 0xF189 = the manifest version, re-announce', async () => {
    const release = makeRelease(fx, { version: '2.0.0', counter: 2, size: 6 * 1024 + 100, seed: 2 });
    fullOffer = makeOffer(fx, release, { jobId: 'job-full', chunkSize: 512 }); // 13 chunks, the last 100 bytes
    await manager.send(fullOffer);
    const accept = await manager.next(isAccept('job-full'), 10_000);
    assert.equal(accept.window, 8);
    assert.equal(Buffer.from(accept.have, 'base64').toString('hex'), '0000', 'nothing held yet (13 chunks → 2 bytes)');
    const consumed = await manager.download(release, fullOffer, accept);
    const done = await manager.next(isFinal('job-full'), 30_000);
    assert.equal(done.phase, 'done', JSON.stringify(done.error));
    assert.equal(done.version, '2.0.0');

    // Acknowledged every window/2 = 4 chunks and at the end: 4, 8, 12, 13 (in order, so no bitmap).
    const acks = [...consumed, ...manager.received.filter(isAck('job-full'))].sort((x, y) => x.received - y.received);
    assert.deepEqual(acks.map((a) => [a.next, a.received, a.have]), [[4, 4, undefined], [8, 8, undefined], [12, 12, undefined], [13, 13, undefined]]);
    assert.equal(gw.stats.updates.acks, 4);

    // Phases in order (consecutive repeats folded): verifying, erasing, programming, checking, rebooting, done.
    const phases = manager.seen('job-full').filter((m): m is UpdateStatusMessage => m.type === 'update.status').map((m) => m.phase);
    const folded = phases.filter((p, i) => p !== phases[i - 1]);
    assert.deepEqual(folded, ['verifying', 'erasing', 'programming', 'checking', 'rebooting']);

    assert.equal(ecu.version, '2.0.0');
    await manager.send({ type: 'diag.request', id: 'v', ecu: 'engine', request: '22F189' });
    assert.equal((await manager.next(responseTo('v'))).response, '62F189' + Buffer.from('2.0.0').toString('hex').toUpperCase());
    const announce = await manager.next(isAnnounce, 5000);
    assert.equal(announce.ecus[0]?.appVersion, '2.0.0');

    // The store: job done (record kept for its nonce), its image dropped, the image kept as last good.
    const job = JSON.parse(readFileSync(join(dataDir, 'updates', 'job-full', 'job.json'), 'utf8')) as { phase: string; reported: boolean };
    assert.equal(job.phase, 'done');
    assert.equal(job.reported, true);
    assert.equal(existsSync(join(dataDir, 'updates', 'job-full', 'image.bin')), false);
    assert.deepEqual(Uint8Array.from(readFileSync(join(dataDir, 'updates', 'last-good', 'engine', 'image.bin'))), release.image);
  });

  it('refuses a rollback (release counter not above the installed one) before downloading', async () => {
    await expectRefused(makeOffer(fx, makeRelease(fx, { version: '2.0.1', counter: 2 }), { jobId: 'job-same-counter' }), 'FW_ROLLBACK');
    await expectRefused(makeOffer(fx, makeRelease(fx, { version: '1.9.0', counter: 1 }), { jobId: 'job-older' }), 'FW_ROLLBACK');
  });

  it('refuses a manifest for another hardware id (the ECU reports stm32f103c8 in DID 0xF191)', async () => {
    await expectRefused(makeOffer(fx, makeRelease(fx, { version: '3.0.0', counter: 3, hardwareId: 'stm32f103cb' }), { jobId: 'job-hw' }), 'FW_WRONG_HARDWARE');
  });

  it('refuses an assignment for another ECU of this vehicle', async () => {
    await expectRefused(makeOffer(fx, makeRelease(fx, { version: '3.0.0', counter: 3 }), { jobId: 'job-ecu', assignEcu: 'body' }), 'FW_WRONG_ECU');
  });

  it('refuses an expired assignment', async () => {
    const release = makeRelease(fx, { version: '3.0.0', counter: 3 });
    await expectRefused(makeOffer(fx, release, { jobId: 'job-expired', now: new Date(Date.now() - 2 * 3_600_000), ttlMs: 3_600_000 }), 'FW_EXPIRED');
  });

  it('refuses an assignment for another vehicle', async () => {
    await expectRefused(makeOffer(fx, makeRelease(fx, { version: '3.0.0', counter: 3 }), { jobId: 'job-vehicle', vehicleId: 'VIN-SOMEONE-ELSE' }), 'FW_WRONG_VEHICLE');
  });

  it('refuses a replayed assignment: the nonce of a finished job under another job id', async () => {
    await expectRefused({ ...fullOffer, jobId: 'job-replay' }, 'FW_REPLAYED_NONCE');
  });

  it('answers the same assignment re-offered for its finished job with the recorded outcome, running nothing', async () => {
    const before = ecu.snapshot();
    const chunksBefore = gw.stats.updates.chunks;
    const acceptsBefore = manager.seen(fullOffer.jobId).filter((m) => m.type === 'update.accept').length;
    await manager.send(fullOffer);
    const final = await manager.next(isFinal(fullOffer.jobId), 10_000);
    assert.equal(final.phase, 'done');
    assert.equal(final.version, '2.0.0');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(manager.seen(fullOffer.jobId).filter((m) => m.type === 'update.accept').length, acceptsBefore, 'no chunk was requested');
    assert.deepEqual(ecu.snapshot(), before, 'the ECU is untouched');
    assert.equal(gw.stats.updates.chunks, chunksBefore);
  });

  it('fails a tampered image at verifying (SHA-256 mismatch) without touching the ECU', async () => {
    const release = makeRelease(fx, { version: '3.0.0', counter: 3, seed: 3 });
    const offer = makeOffer(fx, release, { jobId: 'job-tampered', chunkSize: 1024 });
    const before = ecu.snapshot();
    await manager.send(offer);
    const accept = await manager.next(isAccept('job-tampered'), 10_000);
    await manager.download(release, offer, accept, {
      tamper: (i, data) => {
        if (i === 2) data[17] = (data[17] as number) ^ 0x01;
        return data;
      },
    });
    const final = await manager.next(isFinal('job-tampered'), 10_000);
    assert.equal(final.phase, 'failed');
    assert.equal(final.error?.code, 'FW_DIGEST_MISMATCH');
    const phases = manager.seen('job-tampered').filter((m): m is UpdateStatusMessage => m.type === 'update.status').map((m) => m.phase);
    assert.deepEqual(phases, ['verifying']);
    assert.deepEqual(ecu.snapshot(), before);
    assert.equal(ecu.version, '2.0.0');
    assert.equal(existsSync(join(dataDir, 'updates', 'job-tampered', 'image.bin')), false, 'the bad image is dropped');
  });

  it('supersedes a download the manager gave up on with a newer verified offer for the same ECU', async () => {
    const release = makeRelease(fx, { version: '3.0.0', counter: 3, seed: 5 });
    const first = makeOffer(fx, release, { jobId: 'job-abandoned', chunkSize: 1024 });
    await manager.send(first);
    const chunks = gw.stats.updates.chunks;
    await manager.download(release, first, await manager.next(isAccept('job-abandoned'), 10_000), { only: [0] });
    await until(() => gw.stats.updates.chunks === chunks + 1, 3000, 'chunk 0 stored');
    // Refused offers leave the download alone …
    await expectRefused(makeOffer(fx, release, { jobId: 'job-bad-vehicle', vehicleId: 'VIN-X' }), 'FW_WRONG_VEHICLE');
    // … a verified one replaces it.
    const second = makeOffer(fx, release, { jobId: 'job-newer', chunkSize: 1024 });
    await manager.send(second);
    const old = await manager.next(isFinal('job-abandoned'), 10_000);
    assert.equal(old.error?.code, 'GW_SUPERSEDED');
    const accept = await manager.next(isAccept('job-newer'), 10_000);
    assert.equal(Buffer.from(accept.have, 'base64').toString('hex'), '00', 'a new job starts empty');
    await manager.send({ type: 'update.cancel', jobId: 'job-newer' });
    assert.equal((await manager.next(isFinal('job-newer'), 10_000)).error?.code, 'GW_CANCELLED');
  });

  it('cancels a download on update.cancel; later chunks of the job are refused GW_UNKNOWN_JOB', async () => {
    const release = makeRelease(fx, { version: '3.0.0', counter: 3, seed: 4 });
    const offer = makeOffer(fx, release, { jobId: 'job-cancel', chunkSize: 1024 });
    await manager.send(offer);
    const accept = await manager.next(isAccept('job-cancel'), 10_000);
    await manager.download(release, offer, accept, { only: [0, 1] });
    await manager.send({ type: 'update.cancel', jobId: 'job-cancel' });
    const final = await manager.next(isFinal('job-cancel'), 10_000);
    assert.equal(final.error?.code, 'GW_CANCELLED');
    const refusedBefore = gw.stats.refused['GW_UNKNOWN_JOB'] ?? 0;
    await manager.download(release, offer, accept, { only: [2] });
    await until(() => (gw.stats.refused['GW_UNKNOWN_JOB'] ?? 0) === refusedBefore + 1, 3000, 'the late chunk refused');
    assert.equal(ecu.version, '2.0.0');
  });
});
