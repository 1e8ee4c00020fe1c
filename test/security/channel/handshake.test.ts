import { createECDH } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import { createChannel, decodeHandshake, encodeHandshake, type SecureChannel } from '../../../src/security/channel/index.js';
import { VEHICLE_ID, established, fleet, flip, handshake, pair, snapshot } from './fixtures.js';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
    return e.code;
  }
  return 'NO_ERROR';
}

/** Runs `attempt` on `victim`, expects `code`, no state change, the refusal counted. */
async function refusedWithoutChange(victim: SecureChannel, attempt: Promise<unknown>, code: string): Promise<void> {
  const before = snapshot(victim);
  const counted = victim.stats.refused[code] ?? 0;
  assert.equal(await codeOf(attempt), code);
  assert.equal(snapshot(victim), before);
  assert.equal(victim.stats.refused[code], counted + 1);
}

describe('handshake', () => {
  it('establishes aes-256-gcm by default; both ends agree on session id and see each other verified', async () => {
    const { vehicle, manager } = await established();
    assert.equal(vehicle.state, 'established');
    assert.equal(manager.state, 'established');
    assert.equal(vehicle.suite, 'aes-256-gcm');
    assert.equal(manager.suite, 'aes-256-gcm');
    assert.deepEqual(vehicle.sessionId, manager.sessionId);
    assert.equal(vehicle.sessionId?.length, 8);
    assert.equal(manager.peer?.cn, VEHICLE_ID);
    assert.equal(manager.peer?.role, 'vehicle');
    assert.equal(vehicle.peer?.role, 'manager');
    assert.equal(Buffer.from(manager.open(vehicle.seal(Buffer.from('up')))).toString(), 'up');
    assert.equal(Buffer.from(vehicle.open(manager.seal(Buffer.from('down')))).toString(), 'down');
  });

  it('establishes 3des-cbc-hmac-sha256 with a device that only offers 3DES', async () => {
    const { vehicle, manager } = await established({ vehicle: { suites: ['3des-cbc-hmac-sha256'] } });
    assert.equal(manager.suite, '3des-cbc-hmac-sha256');
    assert.equal(Buffer.from(vehicle.open(manager.seal(Buffer.from('down')))).toString(), 'down');
  });

  it("follows the responder's preference among the offered suites", async () => {
    const { manager } = await established({ manager: { suites: ['3des-cbc-hmac-sha256', 'aes-256-gcm'] } });
    assert.equal(manager.suite, '3des-cbc-hmac-sha256');
  });

  it('lets the manager initiate when configured so', async () => {
    const { vehicle, manager } = await pair({ vehicle: { initiator: false }, manager: { initiator: true } });
    await handshake(manager, vehicle);
    assert.equal(vehicle.peer?.cn, 'manager-1');
    assert.equal(Buffer.from(manager.open(vehicle.seal(Buffer.from('x')))).toString(), 'x');
  });

  it('refuses without a common suite with SC_NO_COMMON_SUITE and stays in start', async () => {
    const { vehicle, manager } = await pair({ vehicle: { suites: ['aes-256-gcm'] }, manager: { suites: ['3des-cbc-hmac-sha256'] } });
    await refusedWithoutChange(manager, manager.handle(await vehicle.start()), 'SC_NO_COMMON_SUITE');
    assert.equal(manager.state, 'start');
  });

  it('refuses a key that is not the certificate key with SC_KEY_MISMATCH', async () => {
    const f = await fleet();
    assert.equal(
      await codeOf(() => createChannel({ role: 'vehicle', certPem: f.vehicle.certPem, keyPem: f.manager.keyPem, trust: f.trust, expectPeer: { role: 'manager' } })),
      'SC_KEY_MISMATCH',
    );
  });

  describe("the manager checks the vehicle's certificate (ClientHello)", () => {
    const cases = [
      ['issued by another CA', 'otherCaVehicle', 'PKI_UNTRUSTED'],
      ['expired', 'expiredVehicle', 'PKI_EXPIRED'],
      ['not yet valid', 'notYetValidVehicle', 'PKI_NOT_YET_VALID'],
      ['revoked by the CRL', 'revokedVehicle', 'PKI_REVOKED'],
      ['of the manager role', 'wrongRoleVehicle', 'PKI_WRONG_ROLE'],
      ['for another vehicle id (CN)', 'otherVehicle', 'PKI_WRONG_CN'],
    ] as const;
    for (const [name, which, code] of cases) {
      it(`refuses a certificate ${name} with ${code}, changing no state`, async () => {
        const f = await fleet();
        const { manager } = await pair({ manager: { trust: f.trustWithCrl } });
        const bad = createChannel({ role: 'vehicle', ...f[which], trust: f.trust, expectPeer: { role: 'manager' } });
        await refusedWithoutChange(manager, manager.handle(await bad.start()), code);
        assert.equal(manager.state, 'start');
        // The genuine vehicle can still complete the handshake with the same manager channel.
        const good = createChannel({ role: 'vehicle', ...f.vehicle, trust: f.trust, expectPeer: { role: 'manager' } });
        await handshake(good, manager);
        assert.equal(manager.peer?.cn, VEHICLE_ID);
      });
    }
  });

  describe("the vehicle checks the manager's certificate (ServerHello)", () => {
    it('refuses a manager certificate from another CA with PKI_UNTRUSTED and keeps waiting', async () => {
      const f = await fleet();
      const { vehicle } = await pair();
      const ch = await vehicle.start();
      const rogue = createChannel({ role: 'manager', ...f.otherCaManager, trust: f.trust, expectPeer: { role: 'vehicle', cn: VEHICLE_ID } });
      const sh = await rogue.handle(ch);
      await refusedWithoutChange(vehicle, vehicle.handle(sh.reply!), 'PKI_UNTRUSTED');
      assert.equal(vehicle.state, 'awaitServerHello');
    });

    it('refuses a vehicle certificate where a manager is expected with PKI_WRONG_ROLE', async () => {
      const f = await fleet();
      const { vehicle } = await pair();
      const ch = await vehicle.start();
      // Another vehicle answering as responder: its certificate is valid but of the wrong role.
      const impostor = createChannel({ role: 'vehicle', ...f.otherVehicle, trust: f.trust, expectPeer: { role: 'vehicle' }, initiator: false });
      const sh = await impostor.handle(ch);
      await refusedWithoutChange(vehicle, vehicle.handle(sh.reply!), 'PKI_WRONG_ROLE');
    });
  });

  describe('tampered handshake messages (untrusted broker)', () => {
    it('refuses a ServerHello with a flipped signature, MAC, random or chosen suite, then accepts the genuine one', async () => {
      const { vehicle, manager } = await pair();
      const sh = (await manager.handle(await vehicle.start())).reply!;
      const sigAt = sh.length - 96;
      await refusedWithoutChange(vehicle, vehicle.handle(flip(sh, sigAt + 10)), 'SC_BAD_SIGNATURE');
      await refusedWithoutChange(vehicle, vehicle.handle(flip(sh, sh.length - 1)), 'SC_BAD_FINISHED');
      await refusedWithoutChange(vehicle, vehicle.handle(flip(sh, 5)), 'SC_BAD_SIGNATURE'); // server random
      await refusedWithoutChange(vehicle, vehicle.handle(flip(sh, 34, 2)), 'SC_WRONG_SUITE'); // suite 0x01 → 0x05
      await refusedWithoutChange(vehicle, vehicle.handle(flip(sh, 60)), 'SC_BAD_KEY_SHARE'); // point off the curve
      await refusedWithoutChange(vehicle, vehicle.handle(sh.subarray(0, sh.length - 1)), 'SC_TRUNCATED');
      const done = await vehicle.handle(sh);
      assert.ok(done.established);
      await manager.handle(done.reply!);
      assert.equal(manager.state, 'established');
    });

    it('detects a key share substituted by the broker (the signature covers both shares)', async () => {
      const { vehicle, manager } = await pair();
      const ch = decodeHandshake(await vehicle.start());
      assert.equal(ch.type, 'clientHello');
      const attacker = createECDH('prime256v1');
      const forged = encodeHandshake({ ...(ch as Extract<typeof ch, { type: 'clientHello' }>), keyShare: attacker.generateKeys() });
      const sh = (await manager.handle(forged)).reply!;
      await refusedWithoutChange(vehicle, vehicle.handle(sh), 'SC_BAD_SIGNATURE');
    });

    it('refuses a Finished with a flipped signature or MAC, then accepts the genuine one', async () => {
      const { vehicle, manager } = await pair();
      const sh = (await manager.handle(await vehicle.start())).reply!;
      const cf = (await vehicle.handle(sh)).reply!;
      await refusedWithoutChange(manager, manager.handle(flip(cf, 20)), 'SC_BAD_SIGNATURE');
      await refusedWithoutChange(manager, manager.handle(flip(cf, cf.length - 1)), 'SC_BAD_FINISHED');
      assert.equal(manager.state, 'awaitFinished');
      assert.ok((await manager.handle(cf)).established);
    });

    it('refuses a recorded handshake replayed into a new session at Finished with SC_BAD_SIGNATURE', async () => {
      const { vehicle, manager } = await pair();
      const ch = await vehicle.start();
      const sh = (await manager.handle(ch)).reply!;
      const cf = (await vehicle.handle(sh)).reply!;
      const { manager: fresh } = await pair();
      await fresh.handle(ch); // the replayed ClientHello gets a new ServerHello (new random, new share)
      await refusedWithoutChange(fresh, fresh.handle(cf), 'SC_BAD_SIGNATURE');
    });
  });

  describe('state machine', () => {
    it('refuses messages that do not fit the state with SC_UNEXPECTED_MESSAGE', async () => {
      const { vehicle, manager } = await pair();
      assert.equal(await codeOf(manager.start()), 'SC_UNEXPECTED_MESSAGE'); // the responder never starts
      const ch = await vehicle.start();
      assert.equal(await codeOf(vehicle.start()), 'SC_UNEXPECTED_MESSAGE'); // twice
      await refusedWithoutChange(vehicle, vehicle.handle(ch), 'SC_UNEXPECTED_MESSAGE'); // a ClientHello to the initiator
      const sh = (await manager.handle(ch)).reply!;
      await refusedWithoutChange(manager, manager.handle(ch), 'SC_UNEXPECTED_MESSAGE'); // a second ClientHello
      await refusedWithoutChange(manager, manager.handle(sh), 'SC_UNEXPECTED_MESSAGE');
      const cf = (await vehicle.handle(sh)).reply!;
      await manager.handle(cf);
      await refusedWithoutChange(manager, manager.handle(cf), 'SC_UNEXPECTED_MESSAGE'); // after established
      await refusedWithoutChange(vehicle, vehicle.handle(vehicle.seal(Buffer.from('r'))), 'SC_UNEXPECTED_MESSAGE'); // a record
    });

    it('refuses a Finished to a fresh responder and a ServerHello to an initiator that has not started', async () => {
      const { vehicle: v2, manager: m2 } = await pair();
      const ch = await v2.start();
      const sh = (await m2.handle(ch)).reply!;
      const { vehicle: idle, manager: idleManager } = await pair();
      await refusedWithoutChange(idle, idle.handle(sh), 'SC_UNEXPECTED_MESSAGE');
      const cf = (await v2.handle(sh)).reply!;
      await refusedWithoutChange(idleManager, idleManager.handle(cf), 'SC_UNEXPECTED_MESSAGE');
    });

    it('gives only OtaError, and no state change, for random bytes fed to handle() in every waiting state', async () => {
      const { vehicle, manager } = await pair();
      const ch = await vehicle.start();
      const sh = (await manager.handle(ch)).reply!;
      const { manager: fresh } = await pair();
      const before = [vehicle, manager, fresh].map(snapshot);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 700 }), fc.nat({ max: 3 }), async (bytes, kind) => {
          if (bytes.length >= 2 && kind > 0) bytes.set([1, kind], 0); // past the version/type checks
          for (const c of [vehicle, manager, fresh]) assert.notEqual(await codeOf(c.handle(bytes)), 'NO_ERROR');
        }),
        { numRuns: 10_000 },
      );
      assert.deepEqual([vehicle, manager, fresh].map(snapshot), before);
      assert.ok((await vehicle.handle(sh)).established); // the genuine ServerHello still completes it
    });

    it('refuses everything after close() with SC_CLOSED', async () => {
      const { vehicle, manager } = await established();
      const rec = manager.seal(Buffer.from('late'));
      vehicle.close();
      assert.equal(vehicle.state, 'closed');
      assert.equal(await codeOf(() => vehicle.open(rec)), 'SC_CLOSED');
      assert.equal(await codeOf(() => vehicle.seal(Buffer.from('x'))), 'SC_CLOSED');
      assert.equal(await codeOf(vehicle.handle(rec)), 'SC_CLOSED');
    });
  });
});
