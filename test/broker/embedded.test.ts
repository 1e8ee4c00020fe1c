import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { ensureBrokerCertificate, startBroker, type Broker } from '../../src/broker/index.js';
import { initPki, issueToDir, loadIssued, revoke, x509 } from '../../src/security/pki/index.js';
import {
  addAdversarialCerts,
  closed,
  connect,
  connectFails,
  eventually,
  foreignVehicle,
  granted,
  makePki,
  sleep,
  type Creds,
  type TestPki,
} from './helpers.js';
import { brokerSecuritySuite } from './suite.js';

brokerSecuritySuite({
  name: 'embedded broker',
  enforcesClientId: true,
  refusedPublishCloses: true,
  refusedSubscribeGrants0x80: true,
  refusesBadWillAtConnect: true,
  async start(pki) {
    const broker = await startBroker({ pkiDir: pki.dir, port: 0 });
    return { url: broker.url, stop: () => broker.close() };
  },
});

/** A broker on its own PKI per describe, with its log lines and the clients a test opened. */
function fixture(opts: { adversarial?: boolean } = {}): {
  pki: () => TestPki;
  broker: () => Broker;
  lines: string[];
  client: (creds: Creds, o?: Parameters<typeof connect>[3]) => Promise<MqttClient>;
} {
  let pki: TestPki;
  let broker: Broker;
  const lines: string[] = [];
  const open: MqttClient[] = [];
  before(async () => {
    pki = await makePki();
    if (opts.adversarial) await addAdversarialCerts(pki);
    broker = await startBroker({ pkiDir: pki.dir, port: 0, log: (l) => lines.push(l) });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  });
  after(async () => {
    await broker?.close();
    await pki?.cleanup();
  });
  return {
    pki: () => pki,
    broker: () => broker,
    lines,
    client: async (creds, o = {}) => {
      const c = await connect(broker.url, pki, creds, o);
      open.push(c);
      return c;
    },
  };
}

describe('startBroker', () => {
  describe('refusal accounting', () => {
    const f = fixture({ adversarial: true });

    it('counts each refused connection by reason: TLS handshake and MQTT CONNECT', async () => {
      const { url } = f.broker();
      const pki = f.pki();
      await connectFails(url, pki, null);
      await connectFails(url, pki, await foreignVehicle(), { clientId: 'VIN0001' });
      await connectFails(url, pki, { name: 'VINREVOKED' });
      await connectFails(url, pki, { name: 'VINEXPIRED' });
      const idErr = await connectFails(url, pki, { name: 'VIN0001' }, { clientId: 'VIN0002' });
      const willErr = await connectFails(url, pki, { name: 'VIN0001' }, { will: { topic: 'ota/v1/VIN0002/status', payload: Buffer.from('x'), qos: 1, retain: true } });
      assert.equal(idErr.code, 2, 'MQTT 3.1.1 §3.2.2.3: identifier rejected');
      assert.equal(willErr.code, 5, 'MQTT 3.1.1 §3.2.2.3: not authorized');
      const refused = f.broker().stats.refused.connections;
      assert.ok(await eventually(() => Object.values(refused).reduce((a, b) => a + b, 0) >= 6), JSON.stringify(refused));
      assert.deepEqual(refused, {
        TLS_PEER_DID_NOT_RETURN_A_CERTIFICATE: 1,
        TLS_UNABLE_TO_VERIFY_LEAF_SIGNATURE: 1,
        TLS_CERT_REVOKED: 1,
        TLS_CERT_HAS_EXPIRED: 1,
        BROKER_CLIENT_ID: 1,
        BROKER_WILL_DENIED: 1,
      });
    });

    it('counts refused subscriptions and publishes, and the accepted ones', async () => {
      const stats = f.broker().stats;
      const before = { ...stats.accepted };
      const vehicle = await f.client({ name: 'VIN0001' });
      assert.deepEqual(await granted(vehicle, ['ota/v1/VIN0002/down/rec', 'ota/v1/VIN0001/down/rec']), [128, 1]);
      await vehicle.publishAsync('ota/v1/VIN0001/up/rec', 'ok', { qos: 1 });
      vehicle.publish('ota/v1/VIN0002/up/rec', 'forged', { qos: 1 }, () => undefined);
      assert.equal(await closed(vehicle), true);
      assert.deepEqual(stats.refused.subscriptions, { BROKER_SUBSCRIBE_DENIED: 1 });
      assert.deepEqual(stats.refused.publishes, { BROKER_PUBLISH_DENIED: 1 });
      assert.equal(stats.accepted.connections, before.connections + 1);
      assert.equal(stats.accepted.subscriptions, before.subscriptions + 1);
      assert.equal(stats.accepted.publishes, before.publishes + 1);
    });

    it('logs each refusal in one line, with its reason, without key material or payloads', async () => {
      assert.ok(f.lines.length >= 8, f.lines.join('\n'));
      for (const line of f.lines) {
        assert.doesNotMatch(line, /[\r\n]/);
        assert.doesNotMatch(line, /PRIVATE KEY|BEGIN|forged/);
        assert.match(line, /\b(TLS|BROKER|PKI)_[A-Z_]+\b/);
      }
      assert.ok(f.lines.some((l) => l.includes('"ota/v1/VIN0002/up/rec"') && l.includes('BROKER_PUBLISH_DENIED')));
    });
  });

  describe('sessions', () => {
    const f = fixture();

    it('refuses a client id held by a connected client of another identity', async () => {
      const vehicle = await f.client({ name: 'VIN0001' });
      const err = await connectFails(f.broker().url, f.pki(), { name: 'manager' }, { clientId: 'VIN0001' });
      assert.equal(err.code, 2);
      assert.equal(f.broker().stats.refused.connections.BROKER_CLIENT_ID_TAKEN, 1);
      await sleep(100);
      assert.equal(vehicle.connected, true, 'the vehicle keeps its session');
    });

    it('lets a vehicle take over its own session (same certificate identity)', async () => {
      const first = await f.client({ name: 'VIN0002' });
      const wasClosed = closed(first);
      const second = await f.client({ name: 'VIN0002' });
      assert.equal(await wasClosed, true);
      assert.equal(second.connected, true);
      assert.deepEqual(
        f.broker().connected().filter((c) => c.clientId === 'VIN0002'),
        [{ clientId: 'VIN0002', role: 'vehicle', cn: 'VIN0002' }],
      );
    });

    it('refuses an MQTT 5 CONNECT (aedes 1.x speaks MQTT 3.1 and 3.1.1 only)', async () => {
      await connectFails(f.broker().url, f.pki(), { name: 'VIN0001' }, { protocolVersion: 5 });
      assert.ok(await eventually(() => f.broker().stats.refused.connections.MQTT_UNACCEPTABLE_PROTOCOL === 1));
    });
  });

  describe('revocation while running (pkiDir)', () => {
    const f = fixture();

    it('disconnects a connected client whose certificate is revoked, and refuses it afterwards', async () => {
      const vehicle = await f.client({ name: 'VIN0002' });
      const other = await f.client({ name: 'VIN0001' });
      await revoke(f.pki().dir, 'VIN0002');
      assert.equal(await closed(vehicle), true, 'closed by the CRL watcher');
      assert.equal(f.broker().stats.dropped.BROKER_REVOKED_LIVE, 1);
      await connectFails(f.broker().url, f.pki(), { name: 'VIN0002' });
      assert.equal(other.connected, true, 'other clients are untouched');
    });

    it('fails closed while crl.pem is not a CRL signed by the fleet CA, and recovers', async () => {
      const crlPath = join(f.pki().dir, 'crl.pem');
      const good = await readFile(crlPath, 'utf8');
      await writeFile(`${crlPath}.tmp`, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
      await rename(`${crlPath}.tmp`, crlPath);
      const err = await connectFails(f.broker().url, f.pki(), { name: 'VIN0001' });
      assert.equal(err.code, 3, 'MQTT 3.1.1 §3.2.2.3: server unavailable');
      assert.equal(f.broker().stats.refused.connections.BROKER_TRUST_UNAVAILABLE, 1);
      await writeFile(`${crlPath}.tmp`, good);
      await rename(`${crlPath}.tmp`, crlPath);
      const vehicle = await f.client({ name: 'VIN0001' });
      assert.equal(vehicle.connected, true);
    });
  });

  describe('crl.pem missing at start (pkiDir)', () => {
    it('fails closed as after start: a revoked vehicle and every other client get CONNACK 3 (BROKER_TRUST_UNAVAILABLE), one log line names the file; a restored CRL admits clients again', async () => {
      const pki = await makePki();
      const lines: string[] = [];
      let broker: Broker | undefined;
      try {
        await revoke(pki.dir, 'VIN0002');
        const crlPath = join(pki.dir, 'crl.pem');
        const good = await readFile(crlPath, 'utf8');
        await rm(crlPath);
        broker = await startBroker({ pkiDir: pki.dir, port: 0, log: (l) => lines.push(l) });
        assert.equal((await connectFails(broker.url, pki, { name: 'VIN0002' })).code, 3, 'the revoked vehicle is not admitted');
        assert.equal((await connectFails(broker.url, pki, { name: 'VIN0001' })).code, 3, 'nobody is, without a CRL');
        assert.equal(broker.stats.refused.connections.BROKER_TRUST_UNAVAILABLE, 2);
        assert.equal(broker.stats.accepted.connections, 0);
        const named = lines.filter((l) => !l.startsWith('broker: refused') && l.includes('BROKER_TRUST_UNAVAILABLE') && l.includes(crlPath));
        assert.equal(named.length, 1, lines.join('\n'));
        await writeFile(`${crlPath}.tmp`, good);
        await rename(`${crlPath}.tmp`, crlPath);
        const vehicle = await connect(broker.url, pki, { name: 'VIN0001' });
        assert.equal(vehicle.connected, true);
        await vehicle.endAsync(true);
        await connectFails(broker.url, pki, { name: 'VIN0002' });
        assert.equal(broker.stats.accepted.connections, 1);
      } finally {
        await broker?.close();
        await pki.cleanup();
      }
    });
  });

  describe('with PEM material instead of a directory', () => {
    let pki: TestPki;
    before(async () => (pki = await makePki()));
    after(async () => pki.cleanup());

    it('honours a CRL given later through setCrl()', async () => {
      const dir = pki.dir;
      const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
      const { certPem, keyPem } = await loadIssued(dir, 'broker');
      const broker = await startBroker({ caPem: await read('ca.pem'), crlPem: await read('crl.pem'), certPem, keyPem, port: 0 });
      try {
        (await connect(broker.url, pki, { name: 'VIN0001' })).end(true);
        await revoke(dir, 'VIN0001'); // the file changes, but this broker only knows PEM text
        await broker.setCrl(await read('crl.pem'));
        await connectFails(broker.url, pki, { name: 'VIN0001' });
      } finally {
        await broker.close();
      }
    });

    it('refuses to start with a revoked broker certificate', async () => {
      await revoke(pki.dir, 'broker');
      await assert.rejects(startBroker({ pkiDir: pki.dir, port: 0 }), { code: 'PKI_REVOKED' });
    });

    it('refuses a port out of range', async () => {
      await assert.rejects(startBroker({ pkiDir: pki.dir, port: 70_000 }), { code: 'BROKER_BAD_OPTION' });
    });
  });

  it('close() ends every connection and frees the port', async () => {
    const pki = await makePki();
    try {
      const broker = await startBroker({ pkiDir: pki.dir, port: 0 });
      const vehicle = await connect(broker.url, pki, { name: 'VIN0001' });
      await broker.close();
      assert.equal(await closed(vehicle), true);
      const again = await startBroker({ pkiDir: pki.dir, port: broker.port });
      await again.close();
    } finally {
      await pki.cleanup();
    }
  });
});

describe('ensureBrokerCertificate', () => {
  let pki: TestPki;
  before(async () => (pki = await makePki()));
  after(async () => pki.cleanup());

  it('issues broker.pem with the loopback names and any extra host, once', async () => {
    const fresh = join(pki.dir, '..', 'pki2');
    await initPki(fresh);
    assert.equal(await ensureBrokerCertificate(fresh, { hosts: ['broker.example.test', '0.0.0.0'] }), true);
    assert.equal(await ensureBrokerCertificate(fresh), false);
    const cert = new x509.X509Certificate(await readFile(join(fresh, 'broker.pem'), 'utf8'));
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON().map((n) => n.value) ?? [];
    assert.deepEqual(san.sort(), ['127.0.0.1', '::1', 'broker.example.test', 'localhost'].sort());
  });

  it('re-issues when the key is missing (the old certificate is superseded)', async () => {
    await rm(join(pki.dir, 'broker.key'));
    assert.equal(await ensureBrokerCertificate(pki.dir), true);
    await issueToDir(pki.dir, { role: 'vehicle', name: 'VIN0009' }); // the PKI is still consistent
  });
});
