import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClientRate,
  DEFAULT_BROKER_LIMITS,
  MAX_RECORD_BYTES,
  mosquittoLimitLines,
  packetBytes,
  resolveLimits,
  retainAllowed,
  TokenBucket,
} from '../../src/broker/limits.js';
import { BrokerError } from '../../src/broker/errors.js';
import { mosquittoConf } from '../../src/broker/mosquitto.js';

describe('broker limits', () => {
  describe('the default packet limit', () => {
    it('is just above the largest secure-channel record (3DES: 24 + 8 + 65 544 + 32 bytes) plus its MQTT framing', () => {
      assert.equal(MAX_RECORD_BYTES, 65_608);
      // fixed header 4 + topic ota/v1/<64 chars>/down/rec with its length 82 + packet id 2
      assert.ok(DEFAULT_BROKER_LIMITS.maxPacketBytes >= MAX_RECORD_BYTES + 4 + 82 + 2);
      assert.ok(DEFAULT_BROKER_LIMITS.maxPacketBytes <= MAX_RECORD_BYTES + 1024);
    });
  });

  describe('packetBytes', () => {
    it('adds the type byte and 1–4 remaining-length bytes (MQTT 3.1.1 §2.2.3)', () => {
      assert.equal(packetBytes(0), 2);
      assert.equal(packetBytes(127), 129);
      assert.equal(packetBytes(128), 131);
      assert.equal(packetBytes(16_383), 16_386);
      assert.equal(packetBytes(16_384), 16_388);
      assert.equal(packetBytes(2_097_152), 2_097_157);
    });
  });

  describe('retainAllowed', () => {
    const limits = DEFAULT_BROKER_LIMITS;
    it('allows presence words and the empty payload (delete) on ota/v1/<V>/status', () => {
      assert.equal(retainAllowed(limits, 'ota/v1/VIN1/status', 6), true);
      assert.equal(retainAllowed(limits, 'ota/v1/VIN1/status', 0), true);
    });
    it('refuses any other topic and a payload above maxRetainedBytes', () => {
      for (const t of ['ota/v1/VIN1/up/rec', 'ota/v1/VIN1/up/hs', 'ota/v1/VIN1/down/rec', 'other', 'ota/v1/VIN1/status/x']) {
        assert.equal(retainAllowed(limits, t, 6), false, t);
      }
      assert.equal(retainAllowed(limits, 'ota/v1/VIN1/status', limits.maxRetainedBytes + 1), false);
    });
  });

  describe('TokenBucket', () => {
    it('gives the burst at once, then makes the caller wait (1/rate) per token of debt', () => {
      let t = 0;
      const b = new TokenBucket(10, 5, () => t);
      for (let i = 0; i < 5; i++) assert.equal(b.reserve(1), 0);
      assert.equal(b.reserve(1), 100);
      assert.equal(b.reserve(1), 200);
      t = 200; // refilled 2 tokens: debt paid
      assert.equal(b.reserve(1), 100);
      t = 10_000; // never more than the bucket holds
      for (let i = 0; i < 5; i++) assert.equal(b.reserve(1), 0);
      assert.ok(b.reserve(1) > 0);
    });
  });

  describe('ClientRate', () => {
    it('waits for the slower of its message and byte budgets', () => {
      let t = 0;
      const r = new ClientRate({ messagesPerSecond: 100, bytesPerSecond: 1000, burstSeconds: 1 }, () => t);
      assert.equal(r.reserve(1000), 0);
      assert.equal(r.reserve(500), 500); // bytes: 500 of debt at 1000/s
      t = 500;
      assert.equal(r.reserve(0), 0);
    });
  });

  describe('resolveLimits', () => {
    it('fills defaults and refuses unusable values with BROKER_BAD_OPTION', () => {
      assert.deepEqual(resolveLimits(), DEFAULT_BROKER_LIMITS);
      assert.equal(resolveLimits({ maxPacketBytes: 4096 }).maxPacketBytes, 4096);
      for (const bad of [{ maxPacketBytes: 10 }, { maxPacketBytes: 2 ** 30 }, { maxInflight: 0 }, { maxRetainedBytes: -1 },
        { vehicleRate: { messagesPerSecond: 0, bytesPerSecond: 1, burstSeconds: 1 } }, { managerRate: { messagesPerSecond: 1, bytesPerSecond: Number.NaN, burstSeconds: 1 } }]) {
        assert.throws(() => resolveLimits(bad), (e: unknown) => e instanceof BrokerError && e.code === 'BROKER_BAD_OPTION', JSON.stringify(bad));
      }
    });
  });

  describe('mosquittoLimitLines', () => {
    it('writes max_packet_size and message_size_limit from the same packet limit', () => {
      const lines = mosquittoLimitLines(resolveLimits({ maxPacketBytes: 70_000 }));
      assert.ok(lines.includes('max_packet_size 70000'));
      // no lower than the packet limit implies: Mosquitto would drop such payloads silently
      assert.ok(lines.includes('message_size_limit 70000'));
    });
    it('are part of the generated mosquitto.conf', () => {
      const conf = mosquittoConf({ pkiDir: '/pki', aclPath: '/acl', host: '127.0.0.1', port: 8883 }).split('\n');
      assert.ok(conf.includes(`max_packet_size ${DEFAULT_BROKER_LIMITS.maxPacketBytes}`));
      assert.ok(conf.some((l) => l.startsWith('message_size_limit ')));
    });
  });
});
