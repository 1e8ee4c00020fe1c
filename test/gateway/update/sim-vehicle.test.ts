// The simulated vehicle (src/cli/sim) wires the gateway for updates: its data directory under
// <dataDir>/vehicles/<V>/gateway and each virtual ECU's SecurityAccess secret (the simulator default).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulatedVehicle, type SimulatedVehicle } from '../../../src/cli/sim/vehicle.js';
import type { AnnounceMessage, ControlMessage } from '../../../src/protocol/ota/messages.js';
import { isAccept, isFinal, makeOffer, makeRelease, tempIn, updateFixture, UpdateManager, type UpdateFixture } from './rig.js';

const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';

describe('simulated vehicle: firmware update of a virtual ECU', () => {
  let fx: UpdateFixture;
  before(async () => {
    fx = await updateFixture();
  });
  after(async () => {
    await fx.close();
  });

  it('flashes the body ECU with the secret the simulator derives and keeps the job under the vehicle directory', async () => {
    const manager = await new UpdateManager(fx.f, fx.broker.url).start();
    const dataDir = tempIn(fx, 'sim');
    let vehicle: SimulatedVehicle | undefined;
    try {
      vehicle = await startSimulatedVehicle({
        vehicleId: fx.f.vehicleId,
        credentials: { certPem: fx.f.vehicle.certPem, keyPem: fx.f.vehicle.keyPem, caPem: fx.f.ca.certPem, crlPem: fx.f.crlPem },
        brokerUrl: fx.broker.url,
        dataDir,
        gateway: { reconnect: { initialMs: 50, maxMs: 200 }, uds: { marginMs: 1000 } },
      });
      const announce = await manager.next(isAnnounce, 10_000);
      assert.ok(announce.gateway.capabilities.includes('update'));
      const release = makeRelease(fx, { version: '4.0.0', counter: 4, size: 3000, seed: 7 });
      const offer = makeOffer(fx, release, { jobId: 'sim-job', ecu: 'body', chunkSize: 1024 });
      await manager.send(offer);
      await manager.download(release, offer, await manager.next(isAccept('sim-job'), 10_000));
      const done = await manager.next(isFinal('sim-job'), 30_000);
      assert.equal(done.phase, 'done', JSON.stringify(done.error));
      const body = vehicle.ecus.get('body');
      assert.equal(body?.nvm.application.descriptor()?.version, '4.0.0');
      assert.equal(body?.mode, 'application');
      assert.equal(vehicle.ecus.get('engine')?.nvm.application.descriptor()?.version, '1.0.0-factory');
      assert.ok(existsSync(join(dataDir, 'vehicles', fx.f.vehicleId, 'gateway', 'updates', 'sim-job', 'job.json')));
    } finally {
      await vehicle?.close();
      await manager.stop();
    }
  });
});
