/**
 * The job engine and service against a real SQLite store and blob directory, with the vehicle sessions
 * replaced by a recording fake: expiry, presence, pending cancels, stall re-offers, one job at a time
 * per vehicle, and which update messages are refused.
 */
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore, FirmwareRepository, type FirmwareRecord } from '../../../src/manager/firmware/index.js';
import { JobEngine, JobService, type EngineSessions, type Job } from '../../../src/manager/jobs/index.js';
import { SEND_BATCH_BYTES } from '../../../src/manager/jobs/run.js';
import { INITIAL_BUDGET_BYTES } from '../../../src/manager/jobs/window.js';
import { silentLog } from '../../../src/manager/log.js';
import type { SessionState } from '../../../src/manager/sessions.js';
import { openSqliteStore, type Store } from '../../../src/manager/store/index.js';
import { decodeControl, messageClass, type ControlMessage, type EcuInventory } from '../../../src/protocol/ota/messages.js';
import { bitmapToBase64 } from '../../../src/protocol/ota/update-messages.js';
import { initPki, issueToDir, loadIssued, loadTrustStore } from '../../../src/security/pki/index.js';
import { waitFor } from '../fixtures.js';
import { imageBytes, issueRelease, signRelease } from '../firmware/release.js';

const V = 'VIN-ENGINE-1';

/** Records what the engine sends; the test sets presence and session state. */
class FakeSessions implements EngineSessions {
  sessions = new Map<string, SessionState>();
  presence = new Map<string, boolean>();
  control: Array<{ vehicleId: string; msg: ControlMessage }> = [];
  chunks = 0;
  helloRequests = 0;
  state(v: string): SessionState {
    return this.sessions.get(v) ?? 'none';
  }
  online(v: string): boolean | undefined {
    return this.presence.get(v);
  }
  sendControl(vehicleId: string, msg: ControlMessage): Promise<void> {
    this.control.push({ vehicleId, msg });
    return Promise.resolve();
  }
  sendBulk(_v: string, plaintext: Uint8Array): Promise<void> {
    assert.equal(messageClass(plaintext), 'bulk');
    this.chunks++;
    return Promise.resolve();
  }
  requestSession(): Promise<void> {
    this.helloRequests++;
    return Promise.resolve();
  }
  sent(type: string): ControlMessage[] {
    return this.control.filter((c) => c.msg.type === type).map((c) => decodeControl(Uint8Array.from([1, ...Buffer.from(JSON.stringify(c.msg))])));
  }
}

describe('JobEngine and JobService', () => {
  let dir: string;
  let store: Store;
  let repo: FirmwareRepository;
  let firmware: FirmwareRecord;
  let bigFirmware: FirmwareRecord;
  let signer: { keyPem: string; certPem: string };
  let sessions: FakeSessions;
  let engine: JobEngine;
  let service: JobService;
  let announce: (engineVersion: string) => Promise<void>;

  const startEngine = async (opts: { ackTimeoutMs?: number; now?: () => Date; stallTimeoutMs?: number; stallReoffers?: number; adaptiveWindow?: boolean; resumeWaitMs?: number } = {}): Promise<void> => {
    sessions = new FakeSessions();
    engine = new JobEngine({
      store,
      repository: repo,
      sessions,
      brokerConnected: () => true,
      log: silentLog,
      flushIntervalMs: 50,
      ...(opts.ackTimeoutMs ? { ackTimeoutMs: opts.ackTimeoutMs } : {}),
      ...(opts.stallTimeoutMs ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
      ...(opts.stallReoffers !== undefined ? { stallReoffers: opts.stallReoffers } : {}),
      ...(opts.adaptiveWindow === undefined ? {} : { adaptiveWindow: opts.adaptiveWindow }),
      ...(opts.resumeWaitMs === undefined ? {} : { resumeWaitMs: opts.resumeWaitMs }),
    });
    service = new JobService({ store, repository: repo, engine, signer, sessionState: (v) => sessions.state(v), ...(opts.now ? { now: opts.now } : {}) });
    await engine.start();
  };
  const create = (ecu = 'engine'): Promise<Job> => service.create({ vehicleId: V, ecu, firmwareId: firmware.id, actor: 'test' });
  const row = (id: string): Promise<Record<string, unknown> | undefined> => store.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-engine-'));
    const pkiDir = join(dir, 'pki');
    await initPki(pkiDir, { name: 'Engine Test CA' });
    await issueToDir(pkiDir, { role: 'manager', name: 'manager' });
    signer = await loadIssued(pkiDir, 'manager');
    const release = await issueRelease(pkiDir);
    store = await openSqliteStore(join(dir, 'ota.db'));
    repo = new FirmwareRepository({ store, blobs: new BlobStore(join(dir, 'blobs')), trust: () => loadTrustStore(pkiDir) });
    const image = imageBytes(3000, 5);
    ({ firmware } = await repo.add({ image, format: 'bin', signedManifest: signRelease(release, image), actor: 'test' }));
    const big = imageBytes(48 * 1024, 6); // 96 chunks of 512 bytes
    ({ firmware: bigFirmware } = await repo.add({ image: big, format: 'bin', signedManifest: signRelease(release, big, { version: '1.3.0', counter: 3 }), actor: 'test' }));
    const ecu = (name: string): EcuInventory => ({
      name,
      link: 'can',
      address: '0x7E0',
      appVersion: '1.0.0',
      bootVersion: '1.0.0',
      mode: 'application',
      hardwareId: 'stm32f103c8',
    });
    announce = (engineVersion) =>
      store.applyAnnounce(V, { type: 'announce', vehicleId: V, gateway: { version: 'gw', suites: [], capabilities: [] }, ecus: [{ ...ecu('engine'), appVersion: engineVersion }, ecu('body')] }, new Date().toISOString());
    await announce('1.0.0');
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => startEngine());
  afterEach(async () => {
    for (const j of await service.list({ state: 'active' })) await service.cancel(j.id, 'cleanup', { force: true });
    await engine.close();
  });

  it('fails a job never accepted before its assignment expired, without offering it', async () => {
    await engine.close();
    await startEngine({ now: () => new Date(Date.now() - 61_000) }); // created 61 s ago with a 60 s lifetime
    sessions.sessions.set(V, 'established');
    const job = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: firmware.id, actor: 'test', ttlMs: 60_000 });
    const failed = await waitFor('expired', async () => ((await service.get(job.id))?.state === 'failed' ? service.get(job.id) : undefined));
    assert.equal(failed.reason?.code, 'JOB_EXPIRED');
    assert.equal(sessions.sent('update.offer').length, 0);
  });

  it('waits while the vehicle is offline, and offers when its session comes up', async () => {
    sessions.presence.set(V, false);
    const job = await create();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sessions.control.length, 0);
    assert.equal((await service.get(job.id))?.transfer?.stage, 'waiting');
    sessions.presence.set(V, true);
    sessions.sessions.set(V, 'established');
    engine.onSession(V);
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    const offer = sessions.sent('update.offer')[0];
    assert.equal(offer?.type === 'update.offer' && offer.chunks, job.chunks);
  });

  it('asks an online vehicle without a session for a handshake', async () => {
    sessions.presence.set(V, true);
    await create();
    await waitFor('HelloRequest', () => sessions.helloRequests >= 1);
    assert.equal(sessions.control.length, 0);
  });

  it('delivers a cancel made while the vehicle was away when its next session comes up', async () => {
    sessions.sessions.set(V, 'established');
    const job = await create();
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    sessions.sessions.set(V, 'none');
    await service.cancel(job.id, 'test');
    assert.equal((await row(job.id))?.['cancel_pending'], 1);
    assert.equal(sessions.sent('update.cancel').length, 0);
    sessions.sessions.set(V, 'established');
    engine.onSession(V);
    await waitFor('update.cancel', () => sessions.sent('update.cancel').length === 1);
    await waitFor('cancel delivered', async () => (await row(job.id))?.['cancel_pending'] === 0);
  });

  it('re-offers the same assignment when acks stop while chunks are in flight', async () => {
    await engine.close();
    await startEngine({ ackTimeoutMs: 100 });
    sessions.sessions.set(V, 'established');
    const job = await create();
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    assert.equal(await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(new Uint8Array(1)), window: 2 }), true);
    assert.equal(sessions.chunks, 2);
    await waitFor('re-offer', () => sessions.sent('update.offer').length === 2, 2000);
    const [a, b] = sessions.sent('update.offer');
    assert.equal(a?.type === 'update.offer' && b?.type === 'update.offer' && a.assignment === b.assignment, true);
    assert.equal((await service.get(job.id))?.offers, 2);
  });

  it('sends a window in batches of SEND_BATCH_BYTES per event-loop turn, never more than the window', async () => {
    await engine.close();
    await startEngine({ adaptiveWindow: false }); // the gateway's whole window at once
    sessions.sessions.set(V, 'established');
    const job = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: bigFirmware.id, actor: 'test' });
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    assert.equal(job.chunkSize, 512);
    await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(new Uint8Array(12)), window: 80 });
    assert.equal(sessions.chunks, SEND_BATCH_BYTES / 512, 'one batch at once');
    await new Promise((r) => setImmediate(r));
    assert.equal(sessions.chunks, 80, 'the rest of the window on the next turn');
    await new Promise((r) => setImmediate(r));
    assert.equal(sessions.chunks, 80, 'the window is full');
    await engine.onUpdate(V, { type: 'update.ack', jobId: job.id, next: 40, received: 40, window: 80 });
    await new Promise((r) => setImmediate(r));
    assert.equal(sessions.chunks, 96, 'every chunk sent once');
  });

  it('adaptive window: keeps INITIAL_BUDGET_BYTES in flight before any ack, however large the gateway window', async () => {
    sessions.sessions.set(V, 'established');
    const job = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: bigFirmware.id, actor: 'test' });
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(new Uint8Array(12)), window: 80 });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    assert.equal(sessions.chunks, INITIAL_BUDGET_BYTES / 512, 'the initial budget, not the gateway window of 80');
    assert.equal((await service.get(job.id))?.transfer?.window, INITIAL_BUDGET_BYTES / 512);
    // An ack within 50 ms of the accept shows ≥ 4096 B / 50 ms: a budget ≥ 40 KiB, the window opens further.
    await engine.onUpdate(V, { type: 'update.ack', jobId: job.id, next: 8, received: 8, window: 80 });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    assert.ok(sessions.chunks > 2 * (INITIAL_BUDGET_BYTES / 512), `the window grew after a fast ack (${sessions.chunks} chunks sent)`);
  });

  it('on a new session of a download, waits for the gateway to resume it by itself; offers only when it does not', async () => {
    await engine.close();
    await startEngine({ resumeWaitMs: 150 });
    sessions.sessions.set(V, 'established');
    const job = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: bigFirmware.id, actor: 'test' });
    await waitFor('offer', () => sessions.sent('update.offer').length === 1);
    await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(new Uint8Array(12)), window: 4 });
    await engine.onUpdate(V, { type: 'update.ack', jobId: job.id, next: 4, received: 4, window: 4 });
    // The link drops and comes back: a new session. The gateway resumes with an unsolicited accept.
    engine.onOffline(V);
    engine.onSession(V);
    const before = sessions.chunks;
    await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(Uint8Array.of(0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), window: 4 });
    await waitFor('chunks after the resume', () => sessions.chunks >= before + 4);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sessions.sent('update.offer').length, 1, 'no re-offer: the gateway resumed by itself');
    assert.equal((await service.get(job.id))?.offers, 1);
    // Another new session, and this time the gateway says nothing (it restarted, say): offered after the wait.
    engine.onSession(V);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sessions.sent('update.offer').length, 1, 'not at once');
    await waitFor('re-offer after resumeWaitMs', () => sessions.sent('update.offer').length === 2, 2000);
  });

  it('runs one job per vehicle at a time, in creation order', async () => {
    sessions.sessions.set(V, 'established');
    const first = await create('engine');
    const second = await create('body');
    await waitFor('first offer', () => sessions.sent('update.offer').length === 1);
    assert.equal((await service.get(second.id))?.transfer, null, 'the second job waits');
    assert.equal(await engine.onUpdate(V, { type: 'update.status', jobId: first.id, phase: 'done', percent: 100, version: '1.1.0' }), true);
    await waitFor('second offer', () => sessions.sent('update.offer').length === 2);
    const offer = sessions.sent('update.offer')[1];
    assert.equal(offer?.type === 'update.offer' && offer.jobId, second.id);
  });

  it('refuses update messages naming no job of that vehicle; ignores those about finished jobs', async () => {
    sessions.sessions.set(V, 'established');
    const job = await create();
    assert.equal(await engine.onUpdate('VIN-OTHER', { type: 'update.status', jobId: job.id, phase: 'programming', percent: 5 }), false);
    assert.equal(await engine.onUpdate(V, { type: 'update.ack', jobId: 'ffffffffffffffff', next: 0, received: 0, window: 1 }), false);
    await service.cancel(job.id, 'test');
    assert.equal(await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'done', percent: 100 }), true);
    assert.equal((await service.get(job.id))?.state, 'cancelled', 'a finished job stays finished');
  });

  it('a re-offer refused as finished ends the job done if the ECU announces its version (even a little later), else failed', async () => {
    await engine.close();
    sessions = new FakeSessions();
    engine = new JobEngine({ store, repository: repo, sessions, brokerConnected: () => true, log: silentLog, announceWaitMs: 600 });
    service = new JobService({ store, repository: repo, engine, signer, sessionState: (v) => sessions.state(v) });
    await engine.start();
    sessions.sessions.set(V, 'established');
    const reoffer = async (id: string): Promise<void> => {
      await waitFor('offer', () => sessions.sent('update.offer').some((m) => m.type === 'update.offer' && m.jobId === id));
      engine.onSession(V); // a new session (this manager restarted): the same offer again
      await waitFor('re-offer', async () => (await service.get(id))?.offers === 2);
    };
    const missed = await create();
    await reoffer(missed.id);
    // The gateway finished the job while this manager was away; its re-announce trails the refusal.
    await engine.onUpdate(V, { type: 'update.status', jobId: missed.id, phase: 'failed', percent: 0, error: { code: 'FW_REPLAYED_NONCE', message: 'nonce of a finished job' } });
    setTimeout(() => void announce('1.1.0'), 200);
    const done = await waitFor('done', async () => ((await service.get(missed.id))?.state === 'done' ? service.get(missed.id) : undefined));
    assert.equal(done.installedVersion, '1.1.0');
    await announce('1.0.0');
    const other = await create();
    await reoffer(other.id);
    await engine.onUpdate(V, { type: 'update.status', jobId: other.id, phase: 'failed', percent: 0, error: { code: 'GW_JOB_FINISHED', message: 'job already finished (failed)' } });
    const failed = await waitFor('failed', async () => ((await service.get(other.id))?.state === 'failed' ? service.get(other.id) : undefined));
    assert.equal(failed.reason?.code, 'GW_JOB_FINISHED');
    // On a first offer the same code is a plain failure.
    const first = await create();
    await waitFor('offer', () => sessions.sent('update.offer').some((m) => m.type === 'update.offer' && m.jobId === first.id));
    await engine.onUpdate(V, { type: 'update.status', jobId: first.id, phase: 'failed', percent: 0, error: { code: 'FW_REPLAYED_NONCE', message: 'replay' } });
    assert.equal((await service.get(first.id))?.reason?.code, 'FW_REPLAYED_NONCE');
  });

  describe('watchdog', () => {
    const full = (chunks: number): string => {
      const bits = new Uint8Array(Math.ceil(chunks / 8)).fill(0xff);
      if (chunks % 8 !== 0) bits[bits.length - 1] = (1 << chunks % 8) - 1;
      return bitmapToBase64(bits);
    };

    it('when a gateway goes quiet after the download (job stuck at checking): re-offers, then fails JOB_STALLED', async () => {
      await engine.close();
      await startEngine({ stallTimeoutMs: 200, stallReoffers: 2 });
      sessions.sessions.set(V, 'established');
      const job = await create();
      await waitFor('offer', () => sessions.sent('update.offer').length === 1);
      await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: full(job.chunks), window: 8 });
      await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'checking', percent: 0 });
      await waitFor('watchdog re-offers', () => sessions.sent('update.offer').length === 3, 5000);
      assert.equal((await service.get(job.id))?.state, 'active', 'still active while re-offering');
      const failed = await waitFor('stalled', async () => ((await service.get(job.id))?.state === 'failed' ? service.get(job.id) : undefined), 5000);
      assert.equal(failed.reason?.code, 'JOB_STALLED');
      assert.equal(sessions.sent('update.offer').length, 3, 'no offer after the job failed');
      assert.equal(engine.stats().watchdogReoffers, 2);
      assert.equal(engine.stats().watchdogFailed, 1);
    });

    it('progress resets the watchdog: a job that keeps moving is never failed', async () => {
      await engine.close();
      await startEngine({ stallTimeoutMs: 300, stallReoffers: 0 });
      sessions.sessions.set(V, 'established');
      const job = await create();
      await waitFor('offer', () => sessions.sent('update.offer').length === 1);
      await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: full(job.chunks), window: 8 });
      for (let percent = 0; percent <= 100; percent += 25) {
        await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'programming', percent });
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await service.get(job.id))?.state, 'active');
      await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'done', percent: 100, version: '1.1.0' });
      assert.equal((await service.get(job.id))?.state, 'done');
    });

    it('does not count the time a vehicle is away (the run waits)', async () => {
      await engine.close();
      await startEngine({ stallTimeoutMs: 150, stallReoffers: 0 });
      sessions.presence.set(V, false);
      const job = await create();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await service.get(job.id))?.state, 'active');
      assert.equal(sessions.sent('update.offer').length, 0);
    });

    it('re-offers at once when the gateway goes back to downloading after the download (GW_STORE_CORRUPT)', async () => {
      sessions.sessions.set(V, 'established');
      const job = await create();
      await waitFor('offer', () => sessions.sent('update.offer').length === 1);
      await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: full(job.chunks), window: 8 });
      await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'verifying', percent: 0 });
      await engine.onUpdate(V, { type: 'update.status', jobId: job.id, phase: 'downloading', percent: 0, error: { code: 'GW_STORE_CORRUPT', message: 'the stored image does not match its manifest' } });
      await waitFor('re-offer', () => sessions.sent('update.offer').length === 2, 2000);
      const chunksBefore = sessions.chunks;
      await engine.onUpdate(V, { type: 'update.accept', jobId: job.id, have: bitmapToBase64(new Uint8Array(Math.ceil(job.chunks / 8))), window: 8 });
      assert.equal(sessions.chunks - chunksBefore, Math.min(8, job.chunks), 'every chunk is sent again');
      const view = await service.get(job.id);
      assert.deepEqual([view?.state, view?.phase], ['active', 'downloading']);
    });
  });
});
