/**
 * The manager must not crash, and nothing answered is lost (issue 10 §1, §3), with real processes:
 * `ota broker`, `ota manager`, `ota vehicle` × 2 and an HTTP client firing thousands of diagnostic
 * requests at once — with a 1 ms timeout, at a vehicle killed mid-request and then offline, through a
 * broker frozen (SIGSTOP) and then killed. The manager stays up, logs no unhandled rejection (under the
 * test runner its guard would exit 70 on one), and every answered request, 504s included, is in diag_log.
 * Then kill -9 of the manager under load: every request answered before it is in ota.db.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Api, codeOf, Rig, until } from './harness.js';

type Answer = Awaited<ReturnType<Api['call']>>;

/** Answers that must have their diag_log row: every answer but a refusal made before anything was sent or logged. */
const NOT_LOGGED = new Set(['MGR_LOG_UNAVAILABLE', 'BAD_REQUEST', 'MGR_BAD_INPUT']);
const answered = (all: Answer[]): Answer[] => all.filter((r) => r.status !== 0 && !NOT_LOGGED.has(codeOf(r) ?? ''));
const tally = (all: Answer[]): Record<string, number> => {
  const t: Record<string, number> = {};
  for (const r of all) {
    const k = r.status === 0 ? `NO_ANSWER(${r.error ?? ''})` : (codeOf(r) ?? 'OK');
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
};

describe('manager faults: no crash, nothing answered lost', { timeout: 230_000 }, () => {
  const rigs: Rig[] = [];
  after(async () => {
    for (const r of rigs) await r.stopAll();
  });

  it('survives 1 ms timeouts, a vehicle lost mid-request, a frozen then killed broker — thousands of requests — and logs every answer', { timeout: 115_000 }, async () => {
    const rig = await Rig.create(2);
    rigs.push(rig);
    const [A, B] = rig.vehicles as [string, string];
    const broker = await rig.broker();
    const manager = await rig.manager(broker.url);
    await rig.vehicle(A, broker.url);
    const vehicleB = await rig.vehicle(B, broker.url);
    const api = new Api(manager.api, manager.token);
    try {
      await until('both vehicles reachable', async () => {
        const r = await api.call('GET', '/vehicles');
        const list = (r.body['vehicles'] ?? r.body) as Array<{ id: string; reachable: boolean }>;
        return Array.isArray(list) && list.filter((v) => v.reachable).length === 2;
      }, 30_000);
      const rowsBefore = rig.diagRows().length;
      const all: Answer[] = [];

      // 1. Thousands at once: 1,000 with timeoutMs 1 (answered by their timer while the PUBACK is pending), 1,000 with 1 s.
      all.push(...(await Promise.all([...Array.from({ length: 1000 }, () => api.diag(A, 1)), ...Array.from({ length: 1000 }, (_, i) => api.diag(i % 2 ? A : B, 1000))])));
      assert.ok(all.some((r) => codeOf(r) === 'DIAG_TIMEOUT'), JSON.stringify(tally(all)));

      // 2. Vehicle B killed with requests in flight, then requests at an offline vehicle.
      const inFlight = Array.from({ length: 300 }, () => api.diag(B, 5000));
      vehicleB.child.kill('SIGKILL');
      all.push(...(await Promise.all(inFlight)));
      await until('B offline', async () => {
        const probe = await api.diag(B, 200);
        all.push(probe);
        return codeOf(probe) === 'VEHICLE_OFFLINE';
      }, 30_000);
      const offline = await Promise.all(Array.from({ length: 300 }, () => api.diag(B, 1000)));
      all.push(...offline);
      assert.ok(offline.every((r) => codeOf(r) === 'VEHICLE_OFFLINE'), JSON.stringify(tally(offline)));

      // 3. The broker frozen with 500 requests in flight (no PUBACK ever), then killed with 500 more.
      broker.proc.child.kill('SIGSTOP');
      all.push(...(await Promise.all(Array.from({ length: 500 }, () => api.diag(A, 300)))));
      broker.proc.child.kill('SIGKILL');
      broker.proc.child.kill('SIGCONT');
      await broker.proc.exited;
      all.push(...(await Promise.all(Array.from({ length: 500 }, () => api.diag(A, 300)))));

      // The manager is alive, serving, and saw no unhandled rejection.
      assert.deepEqual([manager.proc.child.exitCode, manager.proc.child.signalCode], [null, null], manager.proc.err());
      assert.equal((await api.call('GET', '/health')).status, 200);
      assert.ok(!manager.proc.err().includes('unhandled_rejection'), manager.proc.err());

      // Every answered request, 504s included, has its row; every 200's logId is one of them.
      const got = answered(all);
      const rows = rig.diagRows().slice(rowsBefore);
      assert.equal(rows.length, got.length, `rows ${rows.length} vs answered ${got.length}: ${JSON.stringify(tally(all))}`);
      const ids = new Set(rows.map((r) => r.id));
      for (const r of got.filter((x) => x.status === 200)) assert.ok(ids.has(r.body['logId'] as number), `logId ${String(r.body['logId'])} missing`);
      const timeouts504 = got.filter((r) => r.status === 504).length;
      assert.ok(timeouts504 > 0);
      assert.ok(rows.filter((r) => r.error_code === 'DIAG_TIMEOUT' || r.error_code === 'UDS_TIMEOUT').length >= timeouts504);
    } finally {
      api.close();
    }
  });

  it('kill -9 of the manager under load: every request answered before it is in ota.db', { timeout: 110_000 }, async () => {
    const rig = await Rig.create(1);
    rigs.push(rig);
    const [A] = rig.vehicles as [string];
    const broker = await rig.broker();
    const manager = await rig.manager(broker.url);
    await rig.vehicle(A, broker.url);
    const api = new Api(manager.api, manager.token);
    try {
      await until('A reachable', async () => (await api.diag(A, 2000)).status === 200, 30_000);
      const before = rig.diagRows().length;
      const done: Answer[] = [];
      let killed = false;
      const worker = async (): Promise<void> => {
        while (!killed && done.length < 4000) {
          const r = await api.diag(A, 2000);
          if (!killed && r.status !== 0) done.push(r);
          if (done.length >= 1500 && !killed) {
            killed = true;
            manager.proc.child.kill('SIGKILL');
          }
        }
      };
      await Promise.all(Array.from({ length: 64 }, worker));
      const exit = await manager.proc.exited;
      assert.equal(exit.signal, 'SIGKILL');
      const rows = rig.diagRows().slice(before);
      const ids = new Set(rows.map((r) => r.id));
      const ok = done.filter((r) => r.status === 200);
      assert.ok(ok.length > 1000, JSON.stringify(tally(done)));
      const lost = ok.filter((r) => !ids.has(r.body['logId'] as number)).length;
      assert.equal(lost, 0, `${lost} of ${ok.length} answered requests are not in ota.db after kill -9`);
      assert.ok(rows.length >= answered(done).length, `rows ${rows.length} < answered ${answered(done).length}`);
    } finally {
      api.close();
    }
  });
});
