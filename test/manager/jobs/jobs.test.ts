/**
 * Update jobs end to end on the manager side: the real manager and embedded TLS broker, and a scripted
 * gateway (secure channel + update messages) that checks the assignment, answers with its bitmap and
 * stores chunks. Partial bitmap, flow control, gateway statuses and refusals, cancel, and resumption
 * after a manager restart, a broker restart and a new gateway session — each chunk crossing once.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import BetterSqlite3 from 'better-sqlite3';
import { startBroker, type Broker } from '../../../src/broker/index.js';
import { createManager, type Manager } from '../../../src/manager/index.js';
import type { FirmwareRecord } from '../../../src/manager/firmware/index.js';
import type { Job } from '../../../src/manager/jobs/index.js';
import { OtaError } from '../../../src/protocol/errors.js';
import { loadTrustStore } from '../../../src/security/pki/index.js';
import { makeDataDir, memoryLog, ScriptedVehicle, startTestBroker, VEHICLE_A, waitFor, type TestData } from '../fixtures.js';
import { imageBytes, issueRelease, signRelease } from '../firmware/release.js';
import { ScriptedUpdater } from './updater.js';

const IMAGE_LENGTH = 40 * 1024 + 300; // 41 chunks of 1 KiB, the last one short
const isCode = (code: string) => (e: unknown) => e instanceof OtaError && e.code === code;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('update jobs over a real TLS broker', () => {
  let data: TestData;
  let broker: Broker;
  let manager: Manager;
  let vehicle: ScriptedVehicle;
  let updater: ScriptedUpdater;
  let firmware: FirmwareRecord;
  const image = imageBytes(IMAGE_LENGTH, 7);

  const start = async (): Promise<Manager> => {
    const m = await createManager({
      dataDir: data.dataDir,
      brokerUrl: broker.url,
      http: { host: '127.0.0.1', port: 0 },
      log: memoryLog(),
      helloRequestIntervalMs: 200,
      reconnect: { initialMs: 100, maxMs: 400 },
      jobs: { chunkSize: 1024, offerTimeoutMs: 20_000, ackTimeoutMs: 20_000, flushIntervalMs: 100 },
    });
    await m.waitForBroker(5000);
    return m;
  };
  const job = async (id: string): Promise<Job> => {
    const j = await manager.jobs.get(id);
    assert.ok(j, `job ${id}`);
    return j;
  };
  const finished = (id: string, timeoutMs = 10_000): Promise<Job> =>
    waitFor(`job ${id} finished`, async () => {
      const j = await job(id);
      return j.state === 'active' ? undefined : j;
    }, timeoutMs);
  const newJob = (): Promise<Job> => manager.jobs.create({ vehicleId: VEHICLE_A, ecu: 'engine', firmwareId: firmware.id, actor: 'test' });
  /** Chunk lengths: 1 KiB each but the last. */
  const chunkBytes = (indices: number[], chunkSize: number): number => indices.reduce((n, i) => n + Math.min(chunkSize, IMAGE_LENGTH - i * chunkSize), 0);
  const dbRow = (id: string): Record<string, unknown> => {
    const db = new BetterSqlite3(manager.paths.database, { readonly: true });
    try {
      return db.prepare('select * from jobs where id = ?').get(id) as Record<string, unknown>;
    } finally {
      db.close();
    }
  };

  before(async () => {
    data = await makeDataDir();
    const release = await issueRelease(data.pkiDir);
    broker = await startTestBroker(data.pkiDir);
    manager = await start();
    updater = new ScriptedUpdater(await loadTrustStore(data.pkiDir));
    vehicle = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
    updater.attach(vehicle);
    await vehicle.connectSession();
    await waitFor('announce', async () => ((await manager.vehicle(VEHICLE_A))?.ecus.length ?? 0) === 2);
    ({ firmware } = await manager.firmware.add({ image, format: 'bin', signedManifest: signRelease(release, image, { version: '1.1.0' }), actor: 'test' }));
  });
  after(async () => {
    await vehicle.close().catch(() => undefined);
    await manager.close();
    await broker.close();
    await data.cleanup();
  });
  beforeEach(() => {
    updater.received.length = 0;
    updater.window = 8;
    updater.acking = true;
    updater.answering = true;
    updater.pauseAfter = undefined;
    updater.preset = undefined;
    updater.onComplete = updater.defaultOnComplete;
  });

  it('offers a verifiable assignment, and sends only the chunks a partial bitmap lacks', async () => {
    const have = [...Array(10).keys(), 20, 21, 22, 23, 24];
    updater.preset = () => ({ have, image });
    const created = await newJob();
    assert.deepEqual([created.state, created.phase, created.chunkSize, created.chunks, created.imageLength], ['active', 'queued', 1024, 41, IMAGE_LENGTH]);
    const done = await finished(created.id);
    const missing = [...Array(41).keys()].filter((i) => !have.includes(i));
    assert.deepEqual(updater.refusedOffers, [], 'the gateway verified the assignment');
    assert.deepEqual([...updater.received].sort((a, b) => a - b), missing, 'each missing chunk exactly once, no held chunk');
    assert.equal(updater.jobs.get(created.id)?.digestOk, true);
    assert.deepEqual(
      [done.state, done.phase, done.percent, done.installedVersion, done.chunksSent, done.bytesSent, done.offers, done.reason],
      ['done', 'done', 100, '1.1.0', missing.length, chunkBytes(missing, 1024), 1, null],
    );
    assert.equal(done.transfer, null);
    const stats = (await manager.stats()).jobs;
    assert.deepEqual([stats.active, stats.running, stats.offers, stats.chunksSent, stats.bytesSent], [0, 0, 1, missing.length, done.bytesSent]);
    assert.ok(done.finishedAt);
    const audit = await manager.store.listAudit({ limit: 20 });
    assert.ok(audit.some((e) => e.action === 'job.create' && e.target === created.id));
    assert.ok(audit.some((e) => e.action === 'job.done' && e.target === created.id));
  });

  it('never has more than the gateway window unacknowledged', async () => {
    updater.window = 4;
    updater.acking = false;
    const created = await newJob();
    await waitFor('a full window', () => updater.received.length === 4);
    await sleep(300);
    assert.equal(updater.received.length, 4, 'nothing beyond the window without an ack');
    assert.deepEqual((await job(created.id)).transfer, { stage: 'streaming', heldChunks: 0, inFlight: 4, window: 4 });
    updater.acking = true;
    const held = updater.jobs.get(created.id);
    assert.ok(held);
    await updater.ack(held);
    const done = await finished(created.id);
    assert.equal(done.state, 'done');
    assert.ok(held.maxSinceAck <= 4, `at most 4 chunks between acks, saw ${held.maxSinceAck}`);
    assert.equal(updater.received.length, 41);
  });

  it('reflects gateway statuses live in GET /api/v1/jobs/:id and refuses a cancel while installing', async () => {
    const token = (await readFile(manager.paths.apiToken, 'utf8')).trim();
    const httpJob = async (id: string): Promise<Job> => {
      const res = await fetch(`${manager.apiUrl}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as Job;
    };
    updater.onComplete = () => [{ phase: 'verifying', percent: 0 }];
    {
      const created = await newJob();
      await waitFor('verifying', async () => (await httpJob(created.id)).phase === 'verifying');
      await assert.rejects(manager.jobs.cancel(created.id, 'test'), isCode('JOB_NOT_CANCELLABLE'));
      await updater.status(created.id, { phase: 'programming', percent: 40 });
      const p = await waitFor('programming 40', async () => {
        const j = await httpJob(created.id);
        return j.phase === 'programming' && j.percent === 40 ? j : undefined;
      });
      assert.equal(p.state, 'active');
      assert.equal(p.transfer?.stage, 'downloaded');
      await assert.rejects(manager.jobs.cancel(created.id, 'test'), isCode('JOB_NOT_CANCELLABLE'));
      await updater.status(created.id, { phase: 'done', percent: 100, version: '1.1.0' });
      await finished(created.id);
      const done = await httpJob(created.id);
      assert.deepEqual([done.state, done.phase, done.percent, done.installedVersion, done.transfer], ['done', 'done', 100, '1.1.0', null]);
      await assert.rejects(manager.jobs.cancel(created.id, 'test'), isCode('JOB_FINISHED'));
    }
  });

  it('fails the job with the gateway refusal code', async () => {
    updater.onComplete = () => [{ phase: 'failed', percent: 0, error: { code: 'FW_ROLLBACK', message: 'counter 2 is not above 7' } }];
    const created = await newJob();
    const failed = await finished(created.id);
    assert.deepEqual([failed.state, failed.phase, failed.reason], ['failed', 'failed', { code: 'FW_ROLLBACK', message: 'counter 2 is not above 7' }]);
  });

  it('cancels: update.cancel reaches the gateway, the job ends cancelled, the ECU is free again', async () => {
    updater.answering = false;
    const created = await newJob();
    await assert.rejects(newJob(), isCode('JOB_CONFLICT'));
    await waitFor('the offer', () => updater.offers.some((o) => o.jobId === created.id));
    const cancelled = await manager.jobs.cancel(created.id, 'test:carol');
    assert.deepEqual([cancelled.state, cancelled.phase, cancelled.reason?.code], ['cancelled', 'cancelled', 'JOB_CANCELLED']);
    await waitFor('update.cancel', () => updater.cancels.some((c) => c.jobId === created.id));
    await assert.rejects(manager.jobs.cancel(created.id, 'test'), isCode('JOB_FINISHED'));
    await assert.rejects(manager.jobs.cancel('0000000000000000', 'test'), isCode('JOB_UNKNOWN'));
    updater.answering = true;
    const next = await newJob();
    assert.equal((await finished(next.id)).state, 'done');
  });

  it('resumes after a manager restart without re-sending a held chunk; the job row survives', async () => {
    updater.pauseAfter = 16; // acks up to 16 held, then the manager may send one window (8) more
    const created = await newJob();
    await waitFor('a frozen transfer', async () => updater.received.length === 24 && (await job(created.id)).transfer?.inFlight === 8);
    await manager.close();
    const row = dbRow(created.id);
    assert.deepEqual(
      [row['state'], row['phase'], row['chunks_sent'], row['bytes_sent'], row['offers'], row['percent']],
      ['active', 'downloading', 24, 24 * 1024, 1, Math.floor((16 * 100) / 41)],
    );
    updater.pauseAfter = undefined;
    manager = await start(); // asks the online vehicle for a handshake, then re-offers the same assignment
    const done = await finished(created.id);
    assert.equal(done.state, 'done');
    assert.deepEqual([...updater.received].sort((a, b) => a - b), [...Array(41).keys()], 'every chunk exactly once');
    assert.deepEqual([done.chunksSent, done.bytesSent, done.offers], [41, IMAGE_LENGTH, 2]);
    const offers = updater.offers.filter((o) => o.jobId === created.id);
    assert.equal(offers.length, 2);
    assert.equal(offers[0]?.assignment, offers[1]?.assignment, 'the same signed assignment: a resumption, not a replay');
  });

  it('resumes after a broker restart and a gateway reconnect: total bytes sent < 1.2 × image', async () => {
    updater.pauseAfter = 20;
    const created = await newJob();
    await waitFor('a frozen transfer', async () => updater.received.length === 28 && (await job(created.id)).transfer?.inFlight === 8);
    const port = broker.port;
    await broker.close();
    await waitFor('manager disconnected', async () => !(await manager.stats()).broker.connected);
    assert.equal((await job(created.id)).transfer?.stage, 'waiting');
    broker = await startBroker({ pkiDir: data.pkiDir, host: '127.0.0.1', port });
    await manager.waitForBroker(5000);
    updater.pauseAfter = undefined;
    await vehicle.close();
    vehicle = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
    updater.attach(vehicle);
    await vehicle.connectSession();
    const done = await finished(created.id);
    assert.equal(done.state, 'done');
    assert.ok(done.bytesSent < 1.2 * IMAGE_LENGTH, `${done.bytesSent} bytes sent for a ${IMAGE_LENGTH}-byte image`);
    assert.deepEqual([...updater.received].sort((a, b) => a - b), [...Array(41).keys()]);
  });

  it('re-offers on a new gateway session (gateway restart) and continues from its bitmap', async () => {
    updater.pauseAfter = 8;
    const created = await newJob();
    await waitFor('a frozen transfer', () => updater.received.length === 16);
    updater.pauseAfter = undefined;
    await vehicle.connectSession(); // a new handshake on the same connection: the manager sees a new session
    const done = await finished(created.id);
    assert.equal(done.state, 'done');
    assert.equal(done.offers, 2);
    assert.deepEqual([...updater.received].sort((a, b) => a - b), [...Array(41).keys()]);
  });
});
