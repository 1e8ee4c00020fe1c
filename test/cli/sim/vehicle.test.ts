// A simulated vehicle (gateway + two real virtual ECUs on a virtual CAN bus, or behind a DoIP entity)
// answering diagnostics through a real TLS broker and a scripted manager; PKI made with `ota pki` code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulatedVehicle, loadVehicleCredentials, VehicleFileError } from '../../../src/cli/sim/vehicle.js';
import { parseEcuSpec, ecuAddress } from '../../../src/cli/sim/ecu-spec.js';
import { FACTORY_APP_VERSION } from '../../../src/cli/sim/factory.js';
import { startDoipServer } from '../../../src/ecu/links/doip-server.js';
import { createVirtualEcu } from '../../../src/ecu/server/index.js';
import { isOtaError } from '../../../src/protocol/errors.js';
import type { AnnounceMessage, ControlMessage, DiagResponseMessage } from '../../../src/protocol/ota/messages.js';
import { ScriptedManager, type TestBroker, type Fleet } from '../../gateway/harness.js';
import { simFixture } from './fixture.js';

const V = 'SIM-V1';
const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';
const responseTo = (id: string) => (m: ControlMessage): m is DiagResponseMessage => m.type === 'diag.response' && m.id === id;
const hexOf = (s: string): string => Buffer.from(s, 'latin1').toString('hex').toUpperCase();

describe('parseEcuSpec', () => {
  it('reads CAN and DoIP attachments with ARCHITECTURE §3 defaults by name', () => {
    assert.deepEqual(parseEcuSpec('engine=can'), { name: 'engine', link: 'can', requestId: 0x7e0, responseId: 0x7e8 });
    assert.deepEqual(parseEcuSpec('aux=can://0x7E2/0x7EA'), { name: 'aux', link: 'can', requestId: 0x7e2, responseId: 0x7ea });
    assert.deepEqual(parseEcuSpec('engine=doip://127.0.0.1:13400'), { name: 'engine', link: 'doip', host: '127.0.0.1', port: 13400, logicalAddress: 0x0010 });
    assert.deepEqual(parseEcuSpec('body=doip://127.0.0.1'), { name: 'body', link: 'doip', host: '127.0.0.1', port: 13400, logicalAddress: 0x0011 });
    assert.deepEqual(parseEcuSpec('aux=doip://10.0.0.2:13401/0x0012'), { name: 'aux', link: 'doip', host: '10.0.0.2', port: 13401, logicalAddress: 0x0012 });
    assert.equal(ecuAddress(parseEcuSpec('engine=can')), '0x7E0');
    assert.equal(ecuAddress(parseEcuSpec('body=doip://h')), '0x0011');
  });

  it('refuses what it cannot place with SIM_ECU_SPEC', () => {
    for (const bad of ['engine', '=can', 'aux=can', 'aux=doip://h', 'engine=tcp://h', 'engine=can://0x800/0x7E8', 'engine=doip://h:70000', 'engine=doip://h:1/zz']) {
      assert.throws(() => parseEcuSpec(bad), (e: unknown) => isOtaError(e) && e.code === 'SIM_ECU_SPEC', bad);
    }
  });
});

describe('startSimulatedVehicle', () => {
  let dir: string;
  let pki: string;
  let fleet: Fleet;
  let broker: TestBroker;
  let manager: ScriptedManager;

  before(async () => {
    ({ dir, pki, fleet, broker } = await simFixture(V));
    manager = await new ScriptedManager(fleet, broker.url).start();
  });

  after(async () => {
    await manager.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function diag(id: string, ecu: string, request: string): Promise<DiagResponseMessage> {
    await manager.send({ type: 'diag.request', id, ecu, request });
    return manager.next(responseTo(id));
  }

  it('says which `ota pki issue` to run when the vehicle has no certificate', () => {
    assert.throws(() => loadVehicleCredentials(pki, 'NO-SUCH-V'), (e: unknown) => isOtaError(e) && e.code === 'SIM_NO_CERTIFICATE' && e.message.includes(`ota pki issue --dir ${pki} --role vehicle --name NO-SUCH-V`));
  });

  describe('a damaged file of the vehicle: a VehicleFileError naming the vehicle and the path, with what to do', () => {
    // Each case damages one file in a copy of the PKI (or the ECU state), then restores nothing: copies are thrown away.
    function copyPki(): string {
      const copy = mkdtempSync(join(dir, 'pki-copy-'));
      cpSync(pki, copy, { recursive: true });
      return copy;
    }
    const named = (code: string, path: string) => (e: unknown) =>
      e instanceof VehicleFileError && e.code === code && e.vehicleId === V && e.path === path && e.remedy.length > 0;

    for (const [what, file, content, code] of [
      ['an empty key', `${V}.key`, '', 'SIM_BAD_KEY'],
      ['a garbage key', `${V}.key`, 'garbage\n', 'SIM_BAD_KEY'],
      ['a garbage certificate', `${V}.pem`, 'garbage\n', 'SIM_BAD_CERTIFICATE'],
    ] as const) {
      it(`${what}: ${code}`, () => {
        const copy = copyPki();
        writeFileSync(join(copy, file), content);
        assert.throws(() => loadVehicleCredentials(copy, V), named(code, join(copy, file)));
      });
    }

    it('the key of another certificate: SIM_BAD_KEY', () => {
      const copy = copyPki();
      cpSync(join(copy, 'manager.key'), join(copy, `${V}.key`));
      assert.throws(() => loadVehicleCredentials(copy, V), named('SIM_BAD_KEY', join(copy, `${V}.key`)));
    });

    it('a missing crl.pem: SIM_NO_CRL (fails closed: no CRL, no start)', () => {
      const copy = copyPki();
      rmSync(join(copy, 'crl.pem'));
      assert.throws(() => loadVehicleCredentials(copy, V), named('SIM_NO_CRL', join(copy, 'crl.pem')));
    });

    it('a truncated flash.bin or a garbage state.json of one ECU: its ECU code, naming the file', async () => {
      const data = mkdtempSync(join(dir, 'data-'));
      await (await startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: data })).close();
      const ecus = join(data, 'vehicles', V, 'ecus');
      const flash = join(ecus, 'engine', 'flash.bin');
      truncateSync(flash, 1000);
      await assert.rejects(startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: data }), named('FLASH_STATE_CORRUPT', flash));
      rmSync(join(ecus, 'engine'), { recursive: true }); // the remedy: the ECU starts again from the factory
      const state = join(ecus, 'body', 'state.json');
      writeFileSync(state, 'garbage');
      await assert.rejects(startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: data }), named('ECU_STATE_CORRUPT', state));
    });
  });

  it('boots two factory-programmed virtual ECUs on CAN and answers diagnostics through the broker', async () => {
    const vehicle = await startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: dir });
    try {
      const announce = await manager.next(isAnnounce, 8000);
      assert.deepEqual(
        announce.ecus.map((e) => [e.name, e.link, e.address, e.mode, e.appVersion, e.hardwareId, e.serial]),
        [
          ['engine', 'can', '0x7E0', 'application', FACTORY_APP_VERSION, 'stm32f103c8', `${V}-engine`],
          ['body', 'can', '0x7E1', 'application', FACTORY_APP_VERSION, 'stm32f103c8', `${V}-body`],
        ],
      );
      assert.ok(announce.ecus.every((e) => typeof e.bootVersion === 'string' && e.bootVersion.length > 0));
      assert.equal((await diag('v1', 'engine', '22F190')).response, '62F190' + hexOf('SIMV1000000000000'));
      assert.equal((await diag('v2', 'body', '1003')).response, '5003003201F4');
      assert.equal((await diag('v3', 'body', '2EF198' + '30'.repeat(10))).response, '7F2E33'); // writes need SecurityAccess
      assert.equal((await diag('v4', 'engine', '22FD00')).response, '62FD000200'); // application runs, verified at boot
      const dtcs = await diag('v5', 'engine', '190A');
      assert.match(dtcs.response ?? '', /^590AAF/);
      assert.ok(existsSync(join(dir, 'vehicles', V, 'ecus', 'engine', 'flash.bin')));
      assert.ok(existsSync(join(dir, 'vehicles', V, 'ecus', 'body', 'factory.json')));
    } finally {
      await vehicle.close();
    }
  });

  it('finds its ECUs as it left them after a restart (no second factory programming)', async () => {
    const vehicle = await startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: dir });
    try {
      const announce = await manager.next(isAnnounce, 8000);
      assert.deepEqual(announce.ecus.map((e) => e.mode), ['application', 'application']);
      assert.equal(vehicle.ecus.get('engine')?.nvm.flash.opCounts().halfWordsProgrammed, 0);
    } finally {
      await vehicle.close();
    }
  });

  it('refuses an ECU whose state.json was lost (ECU_STATE_MISSING); --reprovision-ecus brings it up, logged, in its bootloader', async () => {
    const stateFile = join(dir, 'vehicles', V, 'ecus', 'engine', 'state.json');
    const saved = readFileSync(stateFile);
    rmSync(stateFile);
    try {
      await assert.rejects(startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: dir }), (e: unknown) => isOtaError(e) && e.code === 'ECU_STATE_MISSING');
      assert.equal(existsSync(stateFile), false, 'the refusal recreated nothing');
      const warnings: string[] = [];
      const log = { info: () => undefined, warn: (m: string) => void warnings.push(m) };
      const vehicle = await startSimulatedVehicle({ vehicleId: V, pkiDir: pki, brokerUrl: broker.url, dataDir: dir, reprovisionEcus: true, log });
      try {
        const announce = await manager.next(isAnnounce, 8000);
        assert.deepEqual(announce.ecus.map((e) => [e.name, e.mode]), [['engine', 'bootloader'], ['body', 'application']]);
        assert.equal(warnings.filter((w) => /engine: re-provisioned \(state\.json recreated\); rollback floor kept at 0/.test(w)).length, 1);
      } finally {
        await vehicle.close();
      }
    } finally {
      writeFileSync(stateFile, saved); // the next test finds the ECU as it was
    }
  });

  it('reaches external ECUs over DoIP (one entity, two logical addresses)', async () => {
    const engine = createVirtualEcu({ identity: { serialNumber: 'DOIP-ENGINE' } });
    const body = createVirtualEcu({ identity: { serialNumber: 'DOIP-BODY' } });
    const entity = await startDoipServer({ targets: new Map([[0x0010, engine.handler], [0x0011, body.handler]]), port: 0 });
    const vehicle = await startSimulatedVehicle({
      vehicleId: V,
      pkiDir: pki,
      brokerUrl: broker.url,
      dataDir: dir,
      ecus: [`engine=doip://127.0.0.1:${entity.address.port}`, `body=doip://127.0.0.1:${entity.address.port}/0x0011`],
    });
    try {
      const announce = await manager.next(isAnnounce, 8000);
      assert.deepEqual(announce.ecus.map((e) => [e.name, e.link, e.address, e.mode, e.serial]), [
        ['engine', 'doip', '0x0010', 'bootloader', 'DOIP-ENGINE'],
        ['body', 'doip', '0x0011', 'bootloader', 'DOIP-BODY'],
      ]);
      assert.equal((await diag('d1', 'body', '22F18C')).response, '62F18C' + hexOf('DOIP-BODY'));
      assert.equal(entity.openSockets, 1);
    } finally {
      await vehicle.close();
      await entity.close();
      engine.close();
      body.close();
    }
  });
});
