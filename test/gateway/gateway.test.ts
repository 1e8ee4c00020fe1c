// The gateway against a real broker on mutual TLS (127.0.0.1) and a scripted manager built from the
// channel and message modules; ECUs are small UDS servers behind in-process links.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { CANNOT_CONNECT_AFTER } from '../../src/gateway/mqtt-link.js';
import type { AnnounceMessage, ControlMessage, DiagResponseMessage } from '../../src/protocol/ota/messages.js';
import { encodeControl } from '../../src/protocol/ota/messages.js';
import { fakeEcu, fleetFixture, HandlerLink, ScriptedManager, TestBroker, until, type Fleet } from './harness.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';
const responseTo = (id: string) => (m: ControlMessage): m is DiagResponseMessage => m.type === 'diag.response' && m.id === id;
const hexOf = (s: string): string => Buffer.from(s, 'latin1').toString('hex').toUpperCase();

describe('gateway', () => {
  let f: Fleet;
  let broker: TestBroker;
  let manager: ScriptedManager | undefined;
  let gw: Gateway | undefined;
  let links: Record<string, HandlerLink>;

  before(async () => {
    f = await fleetFixture();
    broker = new TestBroker(f);
    await broker.start();
  });
  after(async () => {
    await broker.stop();
  });
  afterEach(async () => {
    await gw?.close();
    await manager?.stop();
    gw = undefined;
    manager = undefined;
  });

  async function startManager(): Promise<ScriptedManager> {
    manager = await new ScriptedManager(f, broker.url).start();
    return manager;
  }

  async function startGateway(extra: Partial<GatewayOptions> = {}): Promise<Gateway> {
    links = { engine: new HandlerLink(fakeEcu({ versionAfterReset: '2.5.0' })), body: new HandlerLink(fakeEcu({ appVersion: null })), silent: new HandlerLink(fakeEcu({ silent: true })) };
    gw = createGateway({
      vehicleId: f.vehicleId,
      certPem: f.vehicle.certPem,
      keyPem: f.vehicle.keyPem,
      caPem: f.ca.certPem,
      crlPem: f.crlPem,
      brokerUrl: broker.url,
      ecus: [
        { name: 'engine', link: 'can', address: '0x7E0', uds: links.engine as HandlerLink },
        { name: 'body', link: 'can', address: '0x7E1', uds: links.body as HandlerLink },
        { name: 'silent', link: 'doip', address: '0x0012', uds: links.silent as HandlerLink },
      ],
      uds: { keepAliveIntervalMs: 100 },
      reconnect: { initialMs: 50, maxMs: 200 },
      helloRequestIntervalMs: 400,
      ...extra,
    });
    await gw.start();
    return gw;
  }

  async function diag(m: ScriptedManager, id: string, ecu: string, request: string, timeoutMs?: number): Promise<DiagResponseMessage> {
    await m.send({ type: 'diag.request', id, ecu, request, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    return m.next(responseTo(id));
  }

  describe('session start', () => {
    it('publishes online (retained) before the ClientHello, handshakes, and announces the UDS inventory first', async () => {
      const m = await startManager();
      const from = broker.published.length;
      const g = await startGateway();
      const announce = await m.next(isAnnounce);
      assert.equal(g.established, true);
      assert.equal(m.established, 1);
      assert.deepEqual(announce.gateway.capabilities, ['diag']);
      assert.deepEqual(announce.gateway.suites, ['aes-256-gcm', '3des-cbc-hmac-sha256']);
      assert.equal(announce.vehicleId, f.vehicleId);
      assert.deepEqual(announce.ecus, [
        { name: 'engine', link: 'can', address: '0x7E0', appVersion: '2.4.1', bootVersion: 'BOOT-1.0.0', mode: 'application', serial: 'SN-0042', hardwareId: 'stm32f103c8' },
        { name: 'body', link: 'can', address: '0x7E1', appVersion: null, bootVersion: 'BOOT-1.0.0', mode: 'bootloader', serial: 'SN-0042', hardwareId: 'stm32f103c8' },
        { name: 'silent', link: 'doip', address: '0x0012', appVersion: null, bootVersion: null, mode: 'unknown', serial: null, hardwareId: null },
      ]);
      const mine = broker.published.slice(from).filter((p) => p.clientId === f.vehicleId);
      const online = mine.findIndex((p) => p.topic.endsWith('/status') && p.payload.toString() === 'online' && p.retain);
      const hello = mine.findIndex((p) => p.topic.endsWith('/up/hs'));
      assert.ok(online >= 0 && hello > online, 'online precedes the ClientHello');
      // The first record on up/rec is the announce (nothing else was sealed before it).
      assert.equal(mine.filter((p) => p.topic.endsWith('/up/rec')).length, 1);
    });

    it('refuses a ServerHello signed by a certificate of another CA, and completes with the genuine manager on retry', async () => {
      const m = await startManager();
      m.serverCert = f.rogueManager;
      const g = await startGateway({ handshakeTimeoutMs: 300 });
      await until(() => Object.keys(g.stats.refused).some((c) => c.startsWith('PKI_')), 5000, 'a PKI refusal');
      assert.equal(g.established, false);
      assert.equal(g.stats.handshakesEstablished, 0);
      m.serverCert = f.manager;
      await m.next(isAnnounce);
      assert.equal(g.established, true);
      assert.ok(g.stats.handshakesStarted >= 2);
    });
  });

  describe('its own certificate and key, and the CRL', () => {
    // An empty key made TLS go out without a client certificate: the broker refused every retry, silently.
    const cases: Array<[string, () => Partial<GatewayOptions>]> = [
      ['an empty key', () => ({ keyPem: '' })],
      ['a garbage key', () => ({ keyPem: 'garbage\n' })],
      ['the key of another certificate', () => ({ keyPem: f.manager.keyPem })],
      ['a garbage certificate', () => ({ certPem: 'garbage\n' })],
      ['no CRL (fails closed)', () => ({ crlPem: undefined as unknown as string })],
    ];
    for (const [what, extra] of cases) {
      it(`refuses to start with ${what}: GW_CONFIG, and never connects`, async () => {
        const connects = broker.published.length;
        await assert.rejects(startGateway(extra()), { code: 'GW_CONFIG' });
        assert.equal(gw?.connected, false);
        assert.equal(broker.published.length, connects, 'nothing was sent');
      });
    }
  });

  describe('when it cannot connect', () => {
    it('says why once per streak of failed attempts (the reason and the broker), instead of retrying silently', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const warnings: string[] = [];
      const g = await startGateway({ brokerUrl: `mqtts://127.0.0.1:${port}`, log: { info: () => undefined, warn: (m) => void warnings.push(m) } });
      await until(() => g.stats.connectAttempts >= 2 * CANNOT_CONNECT_AFTER, 10_000, 'six failed attempts');
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.ok(warnings[0]?.includes(`mqtts://127.0.0.1:${port}`) && warnings[0].includes('ECONNREFUSED'), warnings[0]);
      assert.equal(g.connected, false);
    });
  });

  describe('diag.request', () => {
    it('returns positive and negative final responses verbatim', async () => {
      const m = await startManager();
      await startGateway();
      await m.next(isAnnounce);
      const pos = await diag(m, 'd1', 'engine', '22F189');
      assert.equal(pos.response, '62F189' + hexOf('2.4.1'));
      assert.equal(pos.pending, 0);
      assert.equal(pos.error, undefined);
      const neg = await diag(m, 'd2', 'engine', '221234');
      assert.equal(neg.response, '7F2231');
      assert.equal(neg.pending, 0);
    });

    it('waits through 7F 31 78 (response pending) and counts it', async () => {
      const m = await startManager();
      await startGateway();
      await m.next(isAnnounce);
      const res = await diag(m, 'p1', 'engine', '31011234');
      assert.equal(res.response, '71011234AA');
      assert.equal(res.pending, 1);
      assert.ok((res.elapsedMs ?? 0) >= 100, `elapsed ${res.elapsedMs}`);
    });

    it('answers GW_UNKNOWN_ECU for an ECU the vehicle does not have, UDS_TIMEOUT for a silent one, null for a suppressed positive response', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      const unknown = await diag(m, 'u1', 'radio', '22F189');
      assert.equal(unknown.error?.code, 'GW_UNKNOWN_ECU');
      const silent = await diag(m, 't1', 'silent', '22F189');
      assert.equal(silent.error?.code, 'UDS_TIMEOUT');
      const overall = await diag(m, 't2', 'engine', '31011234', 60);
      assert.equal(overall.error?.code, 'UDS_TIMEOUT');
      const suppressed = await diag(m, 's1', 'engine', '3E80');
      assert.equal(suppressed.response, null);
      assert.deepEqual(g.stats.diagErrors, { GW_UNKNOWN_ECU: 1, UDS_TIMEOUT: 2 });
    });

    it('serves requests for one ECU one at a time, in order', async () => {
      const m = await startManager();
      await startGateway();
      await m.next(isAnnounce);
      const engine = links.engine as HandlerLink;
      const from = engine.requests.length;
      await Promise.all(['31011234', '22F189', '22F18C'].map((r, i) => m.send({ type: 'diag.request', id: `q${i}`, ecu: 'engine', request: r })));
      const results = await Promise.all([0, 1, 2].map((i) => m.next(responseTo(`q${i}`))));
      assert.deepEqual(results.map((r) => r.response?.slice(0, 6)), ['710112', '62F189', '62F18C']);
      assert.deepEqual(engine.requests.slice(from), ['31011234', '22F189', '22F18C']);
    });

    it('keeps a non-default session alive with 3E 80 after 10 03 and stops after 10 01', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      const engine = links.engine as HandlerLink;
      assert.equal((await diag(m, 'k1', 'engine', '1003')).response, '5003003201F4');
      await until(() => engine.requests.filter((r) => r === '3E80').length >= 2, 2000, 'two keep-alives');
      assert.ok((g.stats.keepAlives['engine'] ?? 0) >= 2);
      assert.equal((await diag(m, 'k2', 'engine', '1001')).response, '5001003201F4');
      const count = engine.requests.filter((r) => r === '3E80').length;
      await new Promise((r) => setTimeout(r, 350));
      assert.equal(engine.requests.filter((r) => r === '3E80').length, count, 'no keep-alive in the default session');
      assert.equal((links.body as HandlerLink).requests.includes('3E80'), false);
    });
  });

  describe('inventory', () => {
    it('re-reads an ECU after a positive ECUReset and announces again when it changed', async () => {
      const m = await startManager();
      const g = await startGateway({ inventoryAfterResetMs: 50 });
      await m.next(isAnnounce);
      assert.equal((await diag(m, 'r1', 'engine', '1101')).response, '5101');
      const again = await m.next(isAnnounce);
      assert.equal(again.ecus.find((e) => e.name === 'engine')?.appVersion, '2.5.0');
      assert.equal(g.inventory.find((e) => e.name === 'engine')?.appVersion, '2.5.0');
      assert.equal(g.stats.announcesSent, 2);
      assert.equal(await g.refreshInventory(), false, 'nothing changed since');
      assert.equal(g.stats.announcesSent, 2);
    });
  });

  describe('refusals', () => {
    it('counts tampered, replayed and malformed downlink records by code and changes nothing', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      const channel = m.channel;
      assert.ok(channel);
      // A tampered record: last byte of the tag flipped.
      const tampered = Buffer.from(channel.seal(encodeControl({ type: 'diag.request', id: 'x1', ecu: 'engine', request: '1101' })));
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0x01;
      await m.sendRaw('down/rec', tampered);
      // A genuine record, then the same bytes again (replay).
      const genuine = await m.send({ type: 'diag.request', id: 'r1', ecu: 'engine', request: '22F189' });
      await m.next(responseTo('r1'));
      await m.sendRaw('down/rec', genuine);
      // Authentic records whose content is refused: garbage JSON, a message only a gateway sends.
      await m.sendRaw('down/rec', channel.seal(Uint8Array.of(0x01, 0x7b)));
      await m.send({ type: 'announce', vehicleId: 'x', gateway: { version: '1', suites: [], capabilities: [] }, ecus: [] });
      await until(() => Object.values(g.stats.refused).reduce((a, b) => a + b, 0) >= 4, 3000, 'four refusals');
      assert.deepEqual(g.stats.refused, { SC_BAD_TAG: 1, SC_REPLAY: 1, OTA_MSG_JSON: 1, GW_UNEXPECTED_MESSAGE: 1 });
      assert.equal(g.stats.diagRequests, 1);
      assert.equal((links.engine as HandlerLink).requests.includes('1101'), false, 'the tampered reset never reached the ECU');
      // The session is intact: the next genuine request is served.
      assert.equal((await diag(m, 'r2', 'engine', '22F18C')).response, '62F18C' + hexOf('SN-0042'));
      assert.equal(m.received.filter((x) => x.type === 'diag.response' && x.id === 'r1').length, 0);
    });

    it('refuses a record before any session and a garbled handshake message', async () => {
      const m = await startManager();
      m.serverCert = f.rogueManager; // keeps the gateway waiting for a ServerHello
      const g = await startGateway({ handshakeTimeoutMs: 5000 });
      await until(() => Object.keys(g.stats.refused).length > 0, 3000, 'the rogue ServerHello refusal');
      await m.sendRaw('down/rec', Buffer.alloc(40, 0x17));
      await m.sendRaw('down/hs', Uint8Array.of(0x01, 0x02, 0x00));
      await until(() => (g.stats.refused['GW_NO_SESSION'] ?? 0) === 1 && Object.keys(g.stats.refused).length === 3, 3000, 'three codes');
      assert.equal(g.established, false);
    });
  });

  describe('re-handshake', () => {
    it('answers HelloRequest with a new handshake, at most once per interval', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      await m.helloRequest();
      await until(() => m.established === 2, 3000, 'second session');
      await m.next(isAnnounce);
      const t0 = Date.now();
      await m.helloRequest();
      await m.helloRequest();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(m.clientHellos, 2, 'no handshake inside the interval');
      await until(() => m.established === 3, 3000, 'deferred third session');
      assert.ok(Date.now() - t0 >= 200, 'the deferred handshake waited for the interval');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(m.clientHellos, 3);
      assert.deepEqual(g.stats.helloRequests, { received: 3, honored: 2, ignored: 1 });
      assert.equal((await diag(m, 'h1', 'engine', '22F189')).response?.slice(0, 6), '62F189');
    });

    it('reconnects after a broker restart and handshakes again', async () => {
      await startManager();
      const g = await startGateway();
      await (manager as ScriptedManager).next(isAnnounce);
      const lost = new Promise<void>((resolve) => g.once('disconnected', () => resolve()));
      await broker.stop();
      await lost;
      assert.equal(g.established, false);
      await (manager as ScriptedManager).stop();
      await new Promise((r) => setTimeout(r, 150));
      await broker.start();
      const m2 = await startManager();
      await m2.next(isAnnounce, 8000);
      assert.equal(g.stats.connects, 2);
      assert.equal(g.stats.handshakesEstablished, 2);
      assert.equal((await diag(m2, 'b1', 'engine', '22F189')).response?.slice(0, 6), '62F189');
    });
  });

  describe('presence', () => {
    it('leaves the last will offline (retained) when the connection drops without DISCONNECT', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      const from = broker.published.length;
      m.status.length = 0;
      await g.close({ abrupt: true });
      await until(() => m.status.includes('offline'), 3000, 'the will');
      const status = broker.published.slice(from).filter((p) => p.clientId === f.vehicleId && p.topic.endsWith('/status'));
      assert.deepEqual(status.map((p) => [p.payload.toString(), p.retain, p.will]), [['offline', true, true]], 'only the will, published by the broker');
    });

    it('publishes offline itself on a graceful close', async () => {
      const m = await startManager();
      const g = await startGateway();
      await m.next(isAnnounce);
      m.status.length = 0;
      await g.close();
      await until(() => m.status.includes('offline'), 3000, 'offline');
      assert.ok(broker.published.some((p) => p.clientId === f.vehicleId && p.topic.endsWith('/status') && p.payload.toString() === 'offline' && p.retain && !p.will));
    });
  });
});
