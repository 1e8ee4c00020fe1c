/**
 * The diagnostics service on its own (fake store and sessions): the vehicle check reads the in-memory
 * registry, each request records exactly one diag_log row and no audit row, a request that could not
 * be logged is refused before anything is sent, and no outcome leaves a promise rejecting unhandled.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Diagnostics, MAX_DIAG_LOG_BACKLOG } from '../../src/manager/diagnostics.js';
import { silentLog } from '../../src/manager/log.js';
import type { VehicleSessions } from '../../src/manager/sessions.js';
import { newCounters } from '../../src/manager/stats.js';
import type { NewDiagEntry, Store, VehicleRecord } from '../../src/manager/store/index.js';
import type { ControlMessage, DiagRequestMessage } from '../../src/protocol/ota/messages.js';

const V = 'VIN-DIAG-1';
const vehicle: VehicleRecord = {
  id: V,
  firstSeen: 'x',
  lastSeen: 'x',
  online: true,
  approval: 'approved',
  statusAt: null,
  gatewayVersion: null,
  suites: [],
  channelSuite: 'aes-256-gcm',
  ecus: [{ name: 'engine', link: 'can', address: '0x7E0', appVersion: '1', bootVersion: '1', mode: 'application', serial: null, hardwareId: null, updatedAt: 'x' }],
};

interface SetupOptions {
  backlog?: number;
  /** What sendControl returns (default: resolves at once, a PUBACK at once). */
  send?: () => Promise<void>;
}

function setup(o: SetupOptions = {}): { diagnostics: Diagnostics; sent: DiagRequestMessage[]; rows: NewDiagEntry[]; reads: { peek: number; get: number } } {
  const backlog = o.backlog ?? 0;
  const rows: NewDiagEntry[] = [];
  const sent: DiagRequestMessage[] = [];
  const reads = { peek: 0, get: 0 };
  const store = {
    peekVehicle: (id: string) => {
      reads.peek++;
      return id === V ? vehicle : undefined;
    },
    getVehicle: (id: string) => {
      reads.get++;
      return Promise.resolve(id === V ? vehicle : undefined);
    },
    recordDiag: (e: NewDiagEntry) => Promise.resolve(rows.push(e)),
    get diagBacklog() {
      return backlog;
    },
    diagLogFailing: false,
    audit: () => assert.fail('a diagnostic request is not an audit event'),
  } as unknown as Store;
  const sessions = {
    state: () => 'established',
    sendControl: (_v: string, msg: ControlMessage) => {
      if (msg.type === 'diag.request') sent.push(msg);
      return o.send ? o.send() : Promise.resolve();
    },
  } as unknown as VehicleSessions;
  const diagnostics = new Diagnostics({ store, sessions, brokerConnected: () => true, counters: newCounters(), log: silentLog });
  return { diagnostics, sent, rows, reads };
}

const request = Uint8Array.of(0x22, 0xf1, 0x90);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs `body`, then collects the unhandled rejections seen until a few timer turns later. */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    await new Promise((r) => setTimeout(r, 30));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return seen;
}

describe('Diagnostics', () => {
  it('answers from the registry in memory and records one diag_log row whose id is the logId', async () => {
    const { diagnostics, sent, rows, reads } = setup();
    const pending = diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test:bob', timeoutMs: 2000 });
    await tick();
    const [msg] = sent;
    assert.ok(msg);
    assert.ok(diagnostics.onResponse(V, { type: 'diag.response', id: msg.id, ecu: 'engine', response: '62F19031', pending: 0, elapsedMs: 2 }));
    const r = await pending;
    assert.deepEqual([r.positive, r.response, r.logId], [true, '62F19031', 1]);
    assert.deepEqual(reads, { peek: 1, get: 0 });
    assert.deepEqual(
      rows.map((e) => [e.actor, e.vehicleId, e.ecu, e.request, e.response, e.outcome, e.errorCode]),
      [['test:bob', V, 'engine', '22F190', '62F19031', 'positive', null]],
    );
  });

  it('logs a refusal too (VEHICLE_UNKNOWN: no such vehicle in the registry)', async () => {
    const { diagnostics, sent, rows } = setup();
    await assert.rejects(diagnostics.diagnose({ vehicleId: 'NOPE', ecu: 'engine', request, actor: 'test' }), { code: 'VEHICLE_UNKNOWN' });
    assert.equal(sent.length, 0);
    assert.deepEqual(rows.map((e) => [e.vehicleId, e.outcome, e.errorCode]), [['NOPE', 'error', 'VEHICLE_UNKNOWN']]);
  });

  it('refuses with MGR_LOG_UNAVAILABLE, sending nothing, while the diag_log backlog is full', async () => {
    const { diagnostics, sent, rows } = setup({ backlog: MAX_DIAG_LOG_BACKLOG });
    await assert.rejects(diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test' }), { code: 'MGR_LOG_UNAVAILABLE' });
    assert.deepEqual([sent.length, rows.length], [0, 0]);
  });

  it('gives every request its own 24-hex-digit id', async () => {
    const { diagnostics, sent } = setup();
    const all = Array.from({ length: 50 }, () => diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 2000 }));
    await tick();
    assert.equal(sent.length, 50);
    assert.equal(new Set(sent.map((m) => m.id)).size, 50);
    for (const m of sent) assert.match(m.id, /^[0-9a-f]{24}$/);
    for (const m of sent) diagnostics.onResponse(V, { type: 'diag.response', id: m.id, ecu: 'engine', response: '62F19031' });
    await Promise.all(all);
  });

  describe('when the answer settles while the broker has not acknowledged the request (no PUBACK yet)', () => {
    it('times out with DIAG_TIMEOUT (timeoutMs 1) and leaves no unhandled rejection', async () => {
      const { diagnostics, rows } = setup({ send: () => new Promise(() => undefined) }); // a frozen broker
      const unhandled = await unhandledDuring(async () => {
        await assert.rejects(diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 1 }), { code: 'DIAG_TIMEOUT' });
      });
      assert.deepEqual(unhandled, []);
      assert.deepEqual(rows.map((e) => [e.outcome, e.errorCode]), [['timeout', 'DIAG_TIMEOUT']]);
    });

    it('fails with VEHICLE_OFFLINE when the vehicle goes offline, and leaves no unhandled rejection', async () => {
      let puback: () => void = () => undefined;
      const { diagnostics, sent, rows } = setup({ send: () => new Promise<void>((r) => (puback = r)) });
      const unhandled = await unhandledDuring(async () => {
        const pending = diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 5000 });
        await tick();
        assert.equal(sent.length, 1);
        diagnostics.onOffline(V);
        await assert.rejects(pending, { code: 'VEHICLE_OFFLINE' });
        puback();
      });
      assert.deepEqual(unhandled, []);
      assert.deepEqual(rows.map((e) => [e.outcome, e.errorCode]), [['error', 'VEHICLE_OFFLINE']]);
    });

    it('a publish refused after the timeout changes nothing and leaves no unhandled rejection', async () => {
      let refuse: (e: unknown) => void = () => undefined;
      const { diagnostics, rows } = setup({ send: () => new Promise<void>((_r, j) => (refuse = j)) });
      const unhandled = await unhandledDuring(async () => {
        await assert.rejects(diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 1 }), { code: 'DIAG_TIMEOUT' });
        refuse(new Error('connection closed'));
      });
      assert.deepEqual(unhandled, []);
      assert.equal(rows.length, 1);
    });

    it('1,000 concurrent requests with timeoutMs 1 all answer DIAG_TIMEOUT, none unhandled', async () => {
      const { diagnostics, rows } = setup({ send: () => new Promise(() => undefined) });
      const unhandled = await unhandledDuring(async () => {
        const all = Array.from({ length: 1000 }, () => diagnostics.diagnose({ vehicleId: V, ecu: 'engine', request, actor: 'test', timeoutMs: 1 }).then(() => 'ok', (e: { code?: string }) => e.code));
        const codes = new Set(await Promise.all(all));
        assert.deepEqual([...codes], ['DIAG_TIMEOUT']);
      });
      assert.deepEqual(unhandled, []);
      assert.equal(rows.length, 1000);
    });
  });
});
