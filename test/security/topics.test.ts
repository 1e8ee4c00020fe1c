import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DOWNLINK,
  UPLINK,
  authorize,
  isTopicSafeId,
  parseVehicleTopic,
  vehicleTopic,
  type TopicPrincipal,
} from '../../src/security/topics.js';

const V: TopicPrincipal = { role: 'vehicle', cn: 'VIN0001' };
const M: TopicPrincipal = { role: 'manager', cn: 'manager' };

describe('parseVehicleTopic', () => {
  it('splits every topic the namespace defines', () => {
    for (const leaf of [...UPLINK, ...DOWNLINK]) {
      assert.deepEqual(parseVehicleTopic(vehicleTopic('VIN0001', leaf)), { vehicleId: 'VIN0001', leaf });
    }
  });

  it('returns undefined for anything else', () => {
    for (const t of [
      'ota/v1',
      'ota/v1/',
      'ota/v1/VIN0001',
      'ota/v1//status',
      'ota/v1/VIN0001/up',
      'ota/v1/VIN0001/up/rec/',
      'ota/v1/VIN0001/up/#',
      'ota/v1/+/status',
      'ota/v1/#',
      'ota/v2/VIN0001/status',
      '$share/g/ota/v1/VIN0001/status',
    ]) {
      assert.equal(parseVehicleTopic(t), undefined, t);
    }
  });
});

describe('isTopicSafeId', () => {
  it('refuses wildcards, separators, $-prefixed, empty and over-long ids', () => {
    for (const id of ['', 'a/b', 'a+', '#', '$SYS', 'x\u0000', 'A'.repeat(65)]) assert.equal(isTopicSafeId(id), false, id);
    for (const id of ['VIN0001', 'WDB1234567890ABCD', 'a.b_c-d', 'A'.repeat(64)]) assert.equal(isTopicSafeId(id), true, id);
  });
});

describe('authorize', () => {
  describe('a vehicle', () => {
    it('may publish its own uplink topics and subscribe to its own downlink topics', () => {
      for (const leaf of UPLINK) assert.equal(authorize(V, 'publish', vehicleTopic('VIN0001', leaf)), true, leaf);
      for (const leaf of DOWNLINK) assert.equal(authorize(V, 'subscribe', vehicleTopic('VIN0001', leaf)), true, leaf);
    });

    it('may not publish its downlink nor subscribe to its uplink', () => {
      for (const leaf of DOWNLINK) assert.equal(authorize(V, 'publish', vehicleTopic('VIN0001', leaf)), false, leaf);
      for (const leaf of UPLINK) assert.equal(authorize(V, 'subscribe', vehicleTopic('VIN0001', leaf)), false, leaf);
    });

    it("may not touch another vehicle's topics", () => {
      for (const leaf of UPLINK) assert.equal(authorize(V, 'publish', vehicleTopic('VIN0002', leaf)), false, leaf);
      for (const leaf of DOWNLINK) assert.equal(authorize(V, 'subscribe', vehicleTopic('VIN0002', leaf)), false, leaf);
    });

    it('may not use wildcards, even within its own namespace', () => {
      for (const f of ['#', 'ota/#', 'ota/v1/#', 'ota/v1/+/down/rec', 'ota/v1/VIN0001/#', 'ota/v1/VIN0001/down/#', 'ota/v1/VIN0001/down/+', 'ota/v1/VIN0001/+/rec']) {
        assert.equal(authorize(V, 'subscribe', f), false, f);
      }
    });

    it('may not use shared subscriptions or $SYS', () => {
      assert.equal(authorize(V, 'subscribe', '$share/g/ota/v1/VIN0001/down/rec'), false);
      assert.equal(authorize(V, 'subscribe', '$SYS/#'), false);
    });

    it('is refused everything when its CN is not a safe topic level', () => {
      for (const cn of ['+', '#', 'a/b', '']) {
        const who: TopicPrincipal = { role: 'vehicle', cn };
        assert.equal(authorize(who, 'publish', `ota/v1/${cn}/status`), false, cn);
        assert.equal(authorize(who, 'subscribe', `ota/v1/${cn}/down/rec`), false, cn);
      }
    });
  });

  describe('a manager', () => {
    it('may publish and subscribe anywhere under ota/v1/', () => {
      for (const t of ['ota/v1/VIN0001/down/rec', 'ota/v1/VIN0002/down/hs']) assert.equal(authorize(M, 'publish', t), true, t);
      for (const f of ['ota/v1/+/up/#', 'ota/v1/+/status', 'ota/v1/#']) assert.equal(authorize(M, 'subscribe', f), true, f);
    });

    it('may subscribe to a shared subscription of a filter under ota/v1/ (MQTT 5 §4.8.2)', () => {
      assert.equal(authorize(M, 'subscribe', '$share/managers/ota/v1/+/up/#'), true);
    });

    it('may not leave ota/v1/ through a shared subscription', () => {
      for (const f of ['$share/g/#', '$share/g/$SYS/#', '$share/g/other/topic', '$share//ota/v1/#', '$share/+/ota/v1/#', '$share/g']) {
        assert.equal(authorize(M, 'subscribe', f), false, f);
      }
    });

    it('may not publish to a $share topic (a shared subscription is not a topic)', () => {
      assert.equal(authorize(M, 'publish', '$share/g/ota/v1/VIN0001/down/rec'), false);
    });

    it('may not touch topics outside ota/v1/', () => {
      for (const t of ['#', '+/v1/#', 'ota/v2/x', 'ota/v10/x', '$SYS/broker/x']) {
        assert.equal(authorize(M, 'subscribe', t), false, t);
        assert.equal(authorize(M, 'publish', t), false, t);
      }
    });
  });

  it('refuses brokers and release keys everything', () => {
    for (const role of ['broker', 'release'] as const) {
      assert.equal(authorize({ role, cn: 'VIN0001' }, 'publish', 'ota/v1/VIN0001/status'), false);
      assert.equal(authorize({ role, cn: 'VIN0001' }, 'subscribe', 'ota/v1/VIN0001/down/rec'), false);
    }
  });

  it('never lets a vehicle reach a topic that names another vehicle (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/);
    const topic = fc.oneof(
      fc.tuple(id, fc.constantFrom(...UPLINK, ...DOWNLINK, '#', '+', 'up/#')).map(([v, l]) => `ota/v1/${v}/${l}`),
      fc.string(),
    );
    fc.assert(
      fc.property(id, topic, fc.constantFrom('publish' as const, 'subscribe' as const), (cn, t, action) => {
        if (!authorize({ role: 'vehicle', cn }, action, t)) return;
        const parsed = parseVehicleTopic(t);
        assert.ok(parsed);
        assert.equal(parsed.vehicleId, cn);
        assert.ok(!/[#+]/.test(t));
      }),
      { numRuns: 10_000 },
    );
  });
});
