/**
 * A job's end is persisted before it is acted on (issue 10 §3): when the database refuses the write of
 * a job's failed / done / cancelled state, the job stays active in memory as it is in the database, the
 * vehicle's next job does not start, a cancel is the caller's JOB_SAVE_FAILED, and an end reported by the
 * gateway is written once the database takes it again. Real SQLite store; the write failure is a TEMP
 * trigger refusing the update of a job's state (as a full disk would).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { BlobStore, FirmwareRepository, type FirmwareRecord } from '../../../src/manager/firmware/index.js';
import { JobEngine, JobService, type EngineSessions } from '../../../src/manager/jobs/index.js';
import { memoryLog, waitFor } from '../fixtures.js';
import { openSqliteStore, type Store } from '../../../src/manager/store/index.js';
import type { ControlMessage, EcuInventory } from '../../../src/protocol/ota/messages.js';
import { initPki, issueToDir, loadIssued, loadTrustStore } from '../../../src/security/pki/index.js';
import { imageBytes, issueRelease, signRelease } from '../firmware/release.js';

const V = 'VIN-PERSIST-1';

/** Always established; records the offers. */
class Sessions implements EngineSessions {
  offers: string[] = [];
  state(): 'established' {
    return 'established';
  }
  online(): boolean {
    return true;
  }
  sendControl(_v: string, msg: ControlMessage): Promise<void> {
    if (msg.type === 'update.offer') this.offers.push(msg.jobId);
    return Promise.resolve();
  }
  sendBulk(): Promise<void> {
    return Promise.resolve();
  }
  requestSession(): Promise<void> {
    return Promise.resolve();
  }
}

/** The database refuses to write any job's state other than active (or takes them again). */
async function refuseJobEnds(store: Store, refuse: boolean): Promise<void> {
  if (refuse) await sql`CREATE TEMP TRIGGER job_end_refused BEFORE UPDATE OF state ON main.jobs WHEN NEW.state <> 'active' BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`.execute(store.db);
  else await sql`DROP TRIGGER temp.job_end_refused`.execute(store.db);
}

describe('JobEngine: a job end that cannot be saved is not acted on', () => {
  let dir: string;
  let store: Store;
  let repo: FirmwareRepository;
  let firmware: FirmwareRecord;
  let signer: { keyPem: string; certPem: string };
  const log = memoryLog();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-finish-'));
    const pkiDir = join(dir, 'pki');
    await initPki(pkiDir, { name: 'Finish Test CA' });
    await issueToDir(pkiDir, { role: 'manager', name: 'manager' });
    signer = await loadIssued(pkiDir, 'manager');
    const release = await issueRelease(pkiDir);
    store = await openSqliteStore(join(dir, 'ota.db'));
    repo = new FirmwareRepository({ store, blobs: new BlobStore(join(dir, 'blobs')), trust: () => loadTrustStore(pkiDir) });
    const image = imageBytes(3000, 5);
    ({ firmware } = await repo.add({ image, format: 'bin', signedManifest: signRelease(release, image), actor: 'test' }));
    const ecu = (name: string): EcuInventory => ({ name, link: 'can', address: '0x7E0', appVersion: '1.0.0', bootVersion: '1.0.0', mode: 'application', hardwareId: 'stm32f103c8' });
    await store.applyAnnounce(V, { type: 'announce', vehicleId: V, gateway: { version: 'gw', suites: [], capabilities: [] }, ecus: [ecu('engine'), ecu('body')] }, new Date().toISOString());
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stateInDb = async (id: string): Promise<string | undefined> => (await store.db.selectFrom('jobs').select('state').where('id', '=', id).executeTakeFirst())?.state;

  it('keeps a job the gateway reported failed active (and its successor waiting) until the failure is written', async () => {
    const sessions = new Sessions();
    const engine = new JobEngine({ store, repository: repo, sessions, brokerConnected: () => true, log, finishRetryMs: 100 });
    const service = new JobService({ store, repository: repo, engine, signer, sessionState: () => 'established' });
    await engine.start();
    try {
      const first = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: firmware.id, actor: 'test' });
      const second = await service.create({ vehicleId: V, ecu: 'body', firmwareId: firmware.id, actor: 'test' });
      await waitFor('first offer', () => sessions.offers.includes(first.id));
      await refuseJobEnds(store, true);
      try {
        assert.equal(await engine.onUpdate(V, { type: 'update.status', jobId: first.id, phase: 'failed', percent: 0, error: { code: 'GW_VERIFY_FAILED', message: 'bad image' } }), true);
        await waitFor('finish_not_saved logged', () => log.events.some((e) => e.event === 'job.finish_not_saved' && e.fields['jobId'] === first.id));
        await new Promise((r) => setTimeout(r, 250)); // a retry or two, still refused
        assert.equal(await stateInDb(first.id), 'active');
        assert.equal((await service.get(first.id))?.state, 'active', 'memory agrees with the database');
        assert.equal(sessions.offers.includes(second.id), false, 'the next job does not start on an unsaved end');
      } finally {
        await refuseJobEnds(store, false);
      }
      await waitFor('failure written by the retry', async () => (await stateInDb(first.id)) === 'failed', 5000);
      assert.equal((await service.get(first.id))?.reason?.code, 'GW_VERIFY_FAILED');
      await waitFor('second offer', () => sessions.offers.includes(second.id));
    } finally {
      for (const j of await service.list({ state: 'active' })) await service.cancel(j.id, 'cleanup', { force: true });
      await engine.close();
    }
  });

  it('a cancel that cannot be written is JOB_SAVE_FAILED and changes nothing', async () => {
    const sessions = new Sessions();
    const engine = new JobEngine({ store, repository: repo, sessions, brokerConnected: () => true, log, finishRetryMs: 100 });
    const service = new JobService({ store, repository: repo, engine, signer, sessionState: () => 'established' });
    await engine.start();
    try {
      const job = await service.create({ vehicleId: V, ecu: 'engine', firmwareId: firmware.id, actor: 'test' });
      await waitFor('offer', () => sessions.offers.includes(job.id));
      await refuseJobEnds(store, true);
      try {
        await assert.rejects(service.cancel(job.id, 'test'), { code: 'JOB_SAVE_FAILED' });
        await new Promise((r) => setTimeout(r, 250)); // no retry of a refused cancel
      } finally {
        await refuseJobEnds(store, false);
      }
      assert.equal(await stateInDb(job.id), 'active');
      const live = await service.get(job.id);
      assert.deepEqual([live?.state, live?.phase], ['active', 'queued']);
      assert.equal((await service.cancel(job.id, 'test')).state, 'cancelled');
      assert.equal(await stateInDb(job.id), 'cancelled');
    } finally {
      await engine.close();
    }
  });

  it('a job whose image cannot be loaded and whose failure cannot be saved waits for the retry (no tight re-prepare loop)', async () => {
    const image = imageBytes(2048, 9);
    const release = await issueRelease(join(dir, 'pki'), 'release2');
    const { firmware: broken } = await repo.add({ image, format: 'bin', signedManifest: signRelease(release, image, { version: '1.4.0', counter: 4 }), actor: 'test' });
    await rm(new BlobStore(join(dir, 'blobs')).path(broken.sha256)); // MGR_BLOB_CORRUPT at every load
    const sessions = new Sessions();
    const engine = new JobEngine({ store, repository: repo, sessions, brokerConnected: () => true, log, finishRetryMs: 200 });
    const service = new JobService({ store, repository: repo, engine, signer, sessionState: () => 'established' });
    await refuseJobEnds(store, true);
    const prepares = (): number => log.events.filter((e) => e.event === 'job.prepare_failed').length;
    const before = prepares();
    let id = '';
    try {
      await engine.start();
      id = (await service.create({ vehicleId: V, ecu: 'engine', firmwareId: broken.id, actor: 'test' })).id;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await stateInDb(id), 'active');
      assert.ok(prepares() - before <= 4, `image loads while the failure cannot be saved: ${prepares() - before}`);
    } finally {
      await refuseJobEnds(store, false);
    }
    try {
      await waitFor('failure written', async () => (await stateInDb(id)) === 'failed', 5000);
      assert.equal((await service.get(id))?.reason?.code, 'MGR_BLOB_CORRUPT');
    } finally {
      await engine.close();
    }
  });
});
