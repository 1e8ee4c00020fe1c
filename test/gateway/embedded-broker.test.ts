// The gateway against the project's embedded broker (src/broker startBroker: mutual TLS, CRL, ACL of
// authorize()): session, diagnostics, last will, and a broker restart on the same port.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type Broker } from '../../src/broker/index.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import type { AnnounceMessage, ControlMessage, DiagResponseMessage } from '../../src/protocol/ota/messages.js';
import { fakeEcu, fleetFixture, HandlerLink, ScriptedManager, until, type Fleet } from './harness.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';
const responseTo = (id: string) => (m: ControlMessage): m is DiagResponseMessage => m.type === 'diag.response' && m.id === id;

describe('gateway with the embedded broker', () => {
  let f: Fleet;
  let broker: Broker;
  const start = (port = 0): Promise<Broker> =>
    startBroker({ caPem: f.ca.certPem, crlPem: f.crlPem, certPem: f.broker.certPem, keyPem: f.broker.keyPem, port });

  before(async () => {
    f = await fleetFixture();
    broker = await start();
  });
  after(async () => {
    await broker.close();
  });

  function gateway(): Gateway {
    return createGateway({
      vehicleId: f.vehicleId,
      certPem: f.vehicle.certPem,
      keyPem: f.vehicle.keyPem,
      caPem: f.ca.certPem,
      crlPem: f.crlPem,
      brokerUrl: broker.url,
      ecus: [{ name: 'engine', link: 'can', address: '0x7E0', uds: new HandlerLink(fakeEcu()) }],
      reconnect: { initialMs: 50, maxMs: 200 },
    });
  }

  it('handshakes, announces, answers a diag request, survives a broker restart, and leaves its will', async () => {
    let manager = await new ScriptedManager(f, broker.url).start();
    const g = gateway();
    try {
      await g.start();
      const announce = await manager.next(isAnnounce);
      assert.equal(announce.ecus[0]?.mode, 'application');
      await manager.send({ type: 'diag.request', id: 'e1', ecu: 'engine', request: '22F18C' });
      assert.match((await manager.next(responseTo('e1'))).response ?? '', /^62F18C/);

      const port = broker.port;
      await manager.stop();
      await broker.close();
      await until(() => !g.connected, 3000, 'the gateway to notice');
      broker = await start(port);
      manager = await new ScriptedManager(f, broker.url).start();
      await manager.next(isAnnounce, 8000);
      assert.equal(g.stats.handshakesEstablished, 2);

      manager.status.length = 0;
      await g.close({ abrupt: true });
      await until(() => manager.status.includes('offline'), 3000, 'the will');
    } finally {
      await g.close();
      await manager.stop();
    }
  });
});
