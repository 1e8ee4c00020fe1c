// The link-security tests every broker we ship a configuration for must pass (ARCHITECTURE.md §2.1):
// run against the embedded broker and against real Mosquitto with the generated configuration.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { addAdversarialCerts, closed, collect, connect, connectFails, foreignVehicle, granted, makePki, nextMessage, sleep, type Creds, type TestPki } from './helpers.js';

/** A broker under test and what it can and cannot enforce. */
export interface BrokerTarget {
  name: string;
  /** Why the suite cannot run here (e.g. Mosquitto not installed); undefined to run it. */
  skip?: string;
  start(pki: TestPki): Promise<{ url: string; stop(): Promise<void> }>;
  /** The broker refuses a vehicle whose client id is not its CN (Mosquitto cannot). */
  enforcesClientId: boolean;
  /** A refused PUBLISH closes the connection (aedes) rather than being acknowledged and dropped. */
  refusedPublishCloses: boolean;
  /** A refused SUBSCRIBE filter is granted 0x80 (aedes) rather than granted and filtered on delivery. */
  refusedSubscribeGrants0x80: boolean;
  /** A last will on a forbidden topic refuses the CONNECT (aedes) rather than being dropped when due. */
  refusesBadWillAtConnect: boolean;
}

export function brokerSecuritySuite(target: BrokerTarget): void {
  describe(`${target.name}: link security`, { skip: target.skip }, () => {
    let pki: TestPki;
    let url: string;
    let stop: () => Promise<void>;
    const open: MqttClient[] = [];
    const client = async (creds: Creds, opts: Parameters<typeof connect>[3] = {}): Promise<MqttClient> => {
      const c = await connect(url, pki, creds, opts);
      open.push(c);
      return c;
    };

    before(async () => {
      pki = await makePki();
      await addAdversarialCerts(pki);
      ({ url, stop } = await target.start(pki));
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    });
    after(async () => {
      await stop?.();
      await pki?.cleanup();
    });

    describe('when manager and vehicle are both valid', () => {
      it('delivers a vehicle uplink to a subscribed manager', async () => {
        const manager = await client({ name: 'manager' });
        await manager.subscribeAsync('ota/v1/+/up/#', { qos: 1 });
        const vehicle = await client({ name: 'VIN0001' });
        const got = nextMessage(manager, 'ota/v1/VIN0001/up/rec');
        await vehicle.publishAsync('ota/v1/VIN0001/up/rec', 'uplink-1', { qos: 1 });
        assert.equal((await got).payload, 'uplink-1');
      });

      it("delivers a manager downlink to the vehicle's subscription", async () => {
        const vehicle = await client({ name: 'VIN0001' });
        assert.deepEqual(await granted(vehicle, ['ota/v1/VIN0001/down/hs', 'ota/v1/VIN0001/down/rec']), [1, 1]);
        const manager = await client({ name: 'manager' });
        const got = nextMessage(vehicle, 'ota/v1/VIN0001/down/rec');
        await manager.publishAsync('ota/v1/VIN0001/down/rec', 'downlink-1', { qos: 1 });
        assert.equal((await got).payload, 'downlink-1');
      });
    });

    describe('when a vehicle reaches beyond its own topics', () => {
      it("reads nothing but its own downlink, whatever it subscribes to", async () => {
        const vehicle = await client({ name: 'VIN0001' });
        const foreign = [
          'ota/v1/VIN0002/down/rec', // another vehicle's downlink
          'ota/v1/VIN0002/status',
          'ota/v1/VIN0001/up/rec', // its own uplink: written, never read
          '#',
          'ota/v1/#',
          'ota/v1/+/down/rec',
        ];
        const codes = await granted(vehicle, [...foreign, 'ota/v1/VIN0001/down/rec']);
        if (target.refusedSubscribeGrants0x80) assert.deepEqual(codes, [...foreign.map(() => 128), 1]);
        const seen = collect(vehicle);
        const manager = await client({ name: 'manager' });
        for (const t of ['ota/v1/VIN0002/down/rec', 'ota/v1/VIN0002/status', 'ota/v1/VIN0001/up/rec']) {
          await manager.publishAsync(t, 'not-for-you', { qos: 1 });
        }
        // Same connection, in order: once the marker arrives, everything before it would have too.
        const marker = nextMessage(vehicle, 'ota/v1/VIN0001/down/rec');
        await manager.publishAsync('ota/v1/VIN0001/down/rec', 'marker', { qos: 1 });
        await marker;
        assert.deepEqual(seen.filter((m) => m.payload === 'not-for-you'), []);
      });

      it('grants 0x80 for wildcards, even over its own namespace', { skip: !target.refusedSubscribeGrants0x80 && 'this broker grants and filters on delivery' }, async () => {
        const vehicle = await client({ name: 'VIN0001' });
        const filters = ['ota/v1/VIN0001/#', 'ota/v1/VIN0001/down/#', 'ota/v1/VIN0001/down/+', 'ota/v1/VIN0001/+/rec'];
        assert.deepEqual(await granted(vehicle, filters), filters.map(() => 128));
      });

      for (const [what, topic] of [
        ["another vehicle's uplink", 'ota/v1/VIN0002/up/rec'],
        ["another vehicle's status", 'ota/v1/VIN0002/status'],
        ['its own downlink (forging the manager)', 'ota/v1/VIN0001/down/rec'],
        ["another vehicle's downlink", 'ota/v1/VIN0002/down/rec'],
      ] as const) {
        it(`never delivers its publish on ${what}`, async () => {
          const manager = await client({ name: 'manager' });
          await manager.subscribeAsync('ota/v1/#', { qos: 1 });
          const victim = await client({ name: 'VIN0002' });
          await victim.subscribeAsync(['ota/v1/VIN0002/down/rec'], { qos: 1 });
          const seenByManager = collect(manager);
          const seenByVictim = collect(victim);
          const vehicle = await client({ name: 'VIN0001' });
          vehicle.publish(topic, 'forged', { qos: 1 }, () => undefined);
          if (target.refusedPublishCloses) {
            assert.equal(await closed(vehicle), true, 'the broker closes the connection of a refused publish');
            await sleep(200);
          } else {
            // Same connection, in order: once the marker arrives, the forged message would have too.
            const marker = nextMessage(manager, 'ota/v1/VIN0001/up/hs');
            await vehicle.publishAsync('ota/v1/VIN0001/up/hs', 'marker', { qos: 1 });
            await marker;
          }
          assert.deepEqual(seenByManager.filter((m) => m.payload === 'forged'), []);
          assert.deepEqual(seenByVictim.filter((m) => m.payload === 'forged'), []);
        });
      }
    });

    describe('when a manager reaches outside ota/v1/', () => {
      it('neither reads nor publishes there', async () => {
        const reader = await client({ name: 'manager' }, { clientId: 'manager-reader' });
        const codes = await granted(reader, ['#', 'other/topic', 'ota/v1/VIN0001/down/rec']);
        if (target.refusedSubscribeGrants0x80) assert.deepEqual(codes, [128, 128, 1]);
        const seen = collect(reader);
        const writer = await client({ name: 'manager' }, { clientId: 'manager-writer' });
        writer.publish('other/topic', 'outside', { qos: 1 }, () => undefined);
        if (target.refusedPublishCloses) {
          assert.equal(await closed(writer), true, 'the broker closes the connection of a refused publish');
          await sleep(200);
        } else {
          const marker = nextMessage(reader, 'ota/v1/VIN0001/down/rec');
          await writer.publishAsync('ota/v1/VIN0001/down/rec', 'marker', { qos: 1 });
          await marker;
        }
        assert.deepEqual(seen.filter((m) => m.payload === 'outside'), []);
      });
    });

    describe('when the client certificate is not acceptable', () => {
      it('refuses a client without a certificate', async () => {
        await connectFails(url, pki, null);
      });

      it('refuses a certificate from another CA', async () => {
        await connectFails(url, pki, await foreignVehicle(), { clientId: 'VIN0001' });
      });

      it('refuses a revoked certificate', async () => {
        await connectFails(url, pki, { name: 'VINREVOKED' });
      });

      it('refuses an expired certificate', async () => {
        await connectFails(url, pki, { name: 'VINEXPIRED' });
      });

      it('refuses the broker and release certificates as clients (their EKU is not clientAuth)', async () => {
        await connectFails(url, pki, { name: 'broker' });
        await connectFails(url, pki, { name: 'release-1' });
      });

      it('refuses a vehicle whose client id is not its CN', { skip: !target.enforcesClientId && 'this broker cannot enforce it' }, async () => {
        await connectFails(url, pki, { name: 'VIN0001' }, { clientId: 'VIN0002' });
      });

      it('never publishes a last will on a topic the vehicle may not publish', async () => {
        const will = { topic: 'ota/v1/VIN0002/status', payload: Buffer.from('forged-will'), qos: 1 as const, retain: true };
        if (target.refusesBadWillAtConnect) {
          await connectFails(url, pki, { name: 'VIN0001' }, { will });
          return;
        }
        const manager = await client({ name: 'manager' });
        await manager.subscribeAsync('ota/v1/#', { qos: 1 });
        const seen = collect(manager);
        const vehicle = await client({ name: 'VIN0001' }, { will });
        vehicle.stream.destroy();
        await sleep(500); // the will is due at once; nothing orders it against a marker
        assert.deepEqual(seen.filter((m) => m.payload === 'forged-will'), []);
      });
    });

    describe('presence', () => {
      it('publishes the retained offline will when a vehicle drops without DISCONNECT', async () => {
        const manager = await client({ name: 'manager' });
        await manager.subscribeAsync('ota/v1/VIN0002/status', { qos: 1 });
        const will = { topic: 'ota/v1/VIN0002/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true };
        const vehicle = await client({ name: 'VIN0002' }, { will });
        const online = nextMessage(manager, 'ota/v1/VIN0002/status');
        await vehicle.publishAsync('ota/v1/VIN0002/status', 'online', { qos: 1, retain: true });
        assert.equal((await online).payload, 'online');
        const offline = nextMessage(manager, 'ota/v1/VIN0002/status');
        vehicle.stream.destroy(); // abrupt: no DISCONNECT packet
        assert.equal((await offline).payload, 'offline');
        const late = await client({ name: 'manager' }, { clientId: 'manager-late' });
        const retained = nextMessage(late, 'ota/v1/VIN0002/status');
        await late.subscribeAsync('ota/v1/+/status', { qos: 1 });
        assert.deepEqual(await retained, { payload: 'offline', retain: true });
      });

      it('delivers the retained online status to a late subscriber', async () => {
        const vehicle = await client({ name: 'VIN0001' });
        await vehicle.publishAsync('ota/v1/VIN0001/status', 'online', { qos: 1, retain: true });
        const manager = await client({ name: 'manager' });
        const got = nextMessage(manager, 'ota/v1/VIN0001/status');
        await manager.subscribeAsync('ota/v1/VIN0001/status', { qos: 1 });
        assert.deepEqual(await got, { payload: 'online', retain: true });
        await vehicle.publishAsync('ota/v1/VIN0001/status', '', { qos: 1, retain: true }); // clear it
      });
    });
  });
}
