/**
 * The firmware and job routes through a real listening socket: bodies, status codes and error codes
 * (201/200/422/400/404/409/413/401), the raised body limit of POST /firmware only, dry runs that create
 * nothing, and cancel.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Broker } from '../../../src/broker/index.js';
import { createManager, type Manager } from '../../../src/manager/index.js';
import { makeDataDir, memoryLog, ScriptedVehicle, startTestBroker, VEHICLE_A, waitFor, type TestData } from '../fixtures.js';
import { imageBytes, issueRelease, signRelease, type Signer } from '../firmware/release.js';

type Json = Record<string, unknown>;
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('HTTP API: /firmware and /jobs', () => {
  let data: TestData;
  let broker: Broker;
  let manager: Manager;
  let vehicle: ScriptedVehicle;
  let token: string;
  let release: Signer;
  let fwId: string;
  let digest: string;
  const image = imageBytes(600 * 1024, 3); // 800 KiB of base64: above the server's default 512 KiB limit

  const call = async (method: string, path: string, body?: unknown, auth: string | null = token): Promise<{ status: number; json: Json }> => {
    const headers: Record<string, string> = { 'x-ota-actor': 'dave' };
    if (auth !== null) headers['authorization'] = `Bearer ${auth}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(manager.apiUrl + '/api/v1' + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const code = (j: Json): unknown => (j['error'] as { code?: unknown } | undefined)?.code;

  before(async () => {
    data = await makeDataDir();
    release = await issueRelease(data.pkiDir);
    broker = await startTestBroker(data.pkiDir);
    manager = await createManager({ dataDir: data.dataDir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: memoryLog() });
    await manager.waitForBroker(5000);
    token = (await readFile(manager.paths.apiToken, 'utf8')).trim();
    vehicle = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A); // answers no update message: jobs stay offered
    await vehicle.connectSession();
    await waitFor('announce', async () => ((await manager.vehicle(VEHICLE_A))?.ecus.length ?? 0) === 2);
  });
  after(async () => {
    await vehicle.close();
    await manager.close();
    await broker.close();
    await data.cleanup();
  });

  describe('POST /firmware', () => {
    it('201 with the firmware record for a new release (a body above the default limit), 200 for the same again', async () => {
      const manifest = signRelease(release, image, { version: '2.0.0', counter: 5 });
      const r = await call('POST', '/firmware', { image: b64(image), format: 'bin', manifest: b64(manifest) });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      fwId = r.json['id'] as string;
      digest = r.json['manifestDigest'] as string;
      assert.match(fwId, /^[0-9a-f]{16}$/);
      assert.equal(digest.slice(0, 16), fwId);
      assert.deepEqual(
        [r.json['version'], r.json['counter'], r.json['length'], r.json['loadAddress'], r.json['format'], r.json['addedBy']],
        ['2.0.0', 5, image.length, 0x0800_2000, 'bin', 'api:dave'],
      );
      const again = await call('POST', '/firmware', { image: b64(image), manifest: b64(manifest) });
      assert.equal(again.status, 200);
      assert.equal(again.json['id'], fwId);
    });

    it('422 with the FW_ code of a refusal', async () => {
      const small = imageBytes(100, 1);
      const manifest = Uint8Array.from(signRelease(release, small));
      manifest[manifest.length - 1] = (manifest[manifest.length - 1] as number) ^ 1;
      const bad = await call('POST', '/firmware', { image: b64(small), manifest: b64(manifest) });
      assert.deepEqual([bad.status, code(bad.json)], [422, 'FW_BAD_SIGNATURE']);
      const unsigned = await call('POST', '/firmware', { image: b64(small), manifest: b64(small) });
      assert.deepEqual([unsigned.status, code(unsigned.json)], [422, 'FW_MALFORMED']);
      const mismatch = await call('POST', '/firmware', { image: b64(imageBytes(100, 2)), manifest: b64(signRelease(release, small)) });
      assert.deepEqual([mismatch.status, code(mismatch.json)], [422, 'FW_DIGEST_MISMATCH']);
    });

    it('400 for a body that fails its schema or is not base64; 401 without the token', async () => {
      const m = b64(signRelease(release, imageBytes(10, 1)));
      for (const body of [{ image: 'AAAA' }, { image: 'AAAA', manifest: m, extra: 1 }, { image: 'AAAA', manifest: m, format: 'elf' }, { image: 'AAAA', manifest: m, base: -1 }]) {
        const r = await call('POST', '/firmware', body);
        assert.deepEqual([r.status, code(r.json)], [400, 'BAD_REQUEST'], JSON.stringify(body));
      }
      const notB64 = await call('POST', '/firmware', { image: 'not base64!', manifest: m });
      assert.deepEqual([notB64.status, code(notB64.json)], [400, 'MGR_BAD_INPUT']);
      const anon = await call('POST', '/firmware', { image: 'AAAA', manifest: m }, null);
      assert.deepEqual([anon.status, code(anon.json)], [401, 'UNAUTHORIZED']);
    });

    it('keeps the default body limit on other routes (413)', async () => {
      const r = await call('POST', '/jobs', { vehicle: VEHICLE_A, ecu: 'x'.repeat(600 * 1024), firmware: fwId });
      assert.deepEqual([r.status, code(r.json)], [413, 'PAYLOAD_TOO_LARGE']);
    });
  });

  describe('GET /firmware', () => {
    it('lists (optionally by hardware) and shows by id or digest; 404 / 400 otherwise', async () => {
      const list = await call('GET', '/firmware');
      assert.equal(list.status, 200);
      assert.deepEqual((list.json['firmware'] as Json[]).map((f) => f['id']), [fwId]);
      assert.deepEqual((await call('GET', '/firmware?hardware=stm32f103cb')).json, { firmware: [] });
      assert.equal((await call('GET', `/firmware/${fwId}`)).json['version'], '2.0.0');
      assert.equal((await call('GET', `/firmware/${digest}`)).json['id'], fwId);
      const raw = await fetch(`${manager.apiUrl}/api/v1/firmware/${fwId}/manifest`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(raw.headers.get('content-type'), 'application/octet-stream');
      assert.equal(createHash('sha256').update(new Uint8Array(await raw.arrayBuffer())).digest('hex'), digest);
      assert.equal((await call('GET', '/firmware/00000000000000ff/manifest')).status, 404);
      const unknown = await call('GET', '/firmware/00000000000000ff');
      assert.deepEqual([unknown.status, code(unknown.json)], [404, 'FIRMWARE_UNKNOWN']);
      assert.equal((await call('GET', '/firmware/xyz')).status, 400);
      assert.equal((await call('GET', '/firmware?limit=0')).status, 400);
    });
  });

  describe('/jobs', () => {
    let jobId: string;

    it('dry run: 200 with the plan, nothing created', async () => {
      const r = await call('POST', '/jobs', { vehicle: VEHICLE_A, ecu: 'engine', firmware: fwId, dryRun: true });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(
        [r.json['dryRun'], r.json['fromVersion'], r.json['toVersion'], r.json['chunkSize'], r.json['chunks'], r.json['reachable'], r.json['queuedBehind']],
        [true, '1.0.0', '2.0.0', 8 * 1024, 75, true, 0], // 600 KiB: 75 chunks of 8 KiB (about 128 at most)
      );
      assert.deepEqual((await call('GET', '/jobs')).json, { jobs: [] });
    });

    it('refuses unknown vehicle, ECU or firmware (404), another hardware (422), a bad body (400)', async () => {
      const cases: Array<[Json, number, string]> = [
        [{ vehicle: 'VIN-NOBODY', ecu: 'engine', firmware: fwId }, 404, 'VEHICLE_UNKNOWN'],
        [{ vehicle: VEHICLE_A, ecu: 'gearbox', firmware: fwId }, 404, 'ECU_UNKNOWN'],
        [{ vehicle: VEHICLE_A, ecu: 'engine', firmware: '00000000000000ff' }, 404, 'FIRMWARE_UNKNOWN'],
        [{ vehicle: VEHICLE_A, ecu: 'engine', firmware: fwId, ttlS: 10 }, 400, 'BAD_REQUEST'],
        [{ vehicle: VEHICLE_A, ecu: 'engine' }, 400, 'BAD_REQUEST'],
      ];
      for (const [body, status, c] of cases) {
        const r = await call('POST', '/jobs', body);
        assert.deepEqual([r.status, code(r.json)], [status, c], JSON.stringify(body));
      }
      const other = imageBytes(64, 5);
      const cb = await call('POST', '/firmware', { image: b64(other), manifest: b64(signRelease(release, other, { hardwareId: 'stm32f103cb' })) });
      assert.equal(cb.status, 201);
      const wrong = await call('POST', '/jobs', { vehicle: VEHICLE_A, ecu: 'engine', firmware: cb.json['id'], dryRun: true });
      assert.deepEqual([wrong.status, code(wrong.json)], [422, 'FW_WRONG_HARDWARE']);
    });

    it('201 with the job; one active job per ECU (409); list and show with progress', async () => {
      const r = await call('POST', '/jobs', { vehicle: VEHICLE_A, ecu: 'engine', firmware: fwId, ttlS: 3600 });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      jobId = r.json['id'] as string;
      assert.deepEqual([r.json['state'], r.json['phase'], r.json['vehicleId'], r.json['ecu'], r.json['firmwareId'], r.json['createdBy']], ['active', 'queued', VEHICLE_A, 'engine', fwId, 'api:dave']);
      assert.equal(Date.parse(r.json['expiresAt'] as string) - Date.parse(r.json['createdAt'] as string), 3600_000);
      assert.equal(r.json['assignment'], undefined, 'the signed assignment stays inside the manager');
      const dup = await call('POST', '/jobs', { vehicle: VEHICLE_A, ecu: 'engine', firmware: fwId });
      assert.deepEqual([dup.status, code(dup.json)], [409, 'JOB_CONFLICT']);
      const shown = await waitFor('offered', async () => {
        const j = (await call('GET', `/jobs/${jobId}`)).json;
        return (j['transfer'] as Json | null)?.['stage'] === 'offered' ? j : undefined;
      });
      assert.deepEqual([shown['offers'], shown['bytesSent'], shown['percent']], [1, 0, 0]);
      assert.deepEqual(((await call('GET', `/jobs?vehicle=${VEHICLE_A}&state=active`)).json['jobs'] as Json[]).map((j) => j['id']), [jobId]);
      assert.deepEqual((await call('GET', '/jobs?state=done')).json, { jobs: [] });
      assert.equal((await call('GET', '/jobs?state=bogus')).status, 400);
      const unknown = await call('GET', '/jobs/00000000000000ff');
      assert.deepEqual([unknown.status, code(unknown.json)], [404, 'JOB_UNKNOWN']);
      assert.equal((await call('GET', '/jobs/nope')).status, 400);
    });

    it('POST /jobs/:id/cancel: 200 cancelled, then 409 JOB_FINISHED; 404 unknown; 400 bad body', async () => {
      assert.equal((await call('POST', `/jobs/${jobId}/cancel`, { bogus: true })).status, 400);
      const r = await call('POST', `/jobs/${jobId}/cancel`);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual([r.json['state'], r.json['phase'], (r.json['reason'] as Json)['code']], ['cancelled', 'cancelled', 'JOB_CANCELLED']);
      const again = await call('POST', `/jobs/${jobId}/cancel`, { force: true });
      assert.deepEqual([again.status, code(again.json)], [409, 'JOB_FINISHED']);
      const unknown = await call('POST', '/jobs/00000000000000ff/cancel');
      assert.deepEqual([unknown.status, code(unknown.json)], [404, 'JOB_UNKNOWN']);
      const shown = (await call('GET', `/jobs/${jobId}`)).json;
      assert.deepEqual([shown['state'], shown['transfer']], ['cancelled', null]);
      const audit = (await call('GET', '/audit-log')).json['entries'] as Json[];
      assert.ok(audit.some((e) => e['action'] === 'job.cancelled' && e['target'] === jobId));
      assert.ok(audit.some((e) => e['action'] === 'firmware.add' && e['actor'] === 'api:dave'));
    });
  });
});
