import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFleet, ensurePki, loadFleet } from '../../src/cli/up/setup.js';
import { isValidVin, simulatorVin } from '../../src/protocol/vin.js';
import { listPki, revoke } from '../../src/security/pki/index.js';

describe('ensureFleet', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-up-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('makes 3 deterministic VINs at first start and records them', async () => {
    const { vehicles, added } = await ensureFleet(dir);
    assert.deepEqual(vehicles, [1, 2, 3].map(simulatorVin));
    assert.deepEqual(added, vehicles);
    assert.ok(vehicles.every(isValidVin));
    assert.deepEqual(await loadFleet(dir), vehicles);
  });

  it('runs the recorded fleet again, a prefix of it, or grows it', async () => {
    assert.deepEqual((await ensureFleet(dir)).added, []);
    assert.deepEqual((await ensureFleet(dir, 1)).vehicles, [simulatorVin(1)]);
    assert.equal((await loadFleet(dir)).length, 3, 'running fewer forgets nobody');
    const grown = await ensureFleet(dir, 5);
    assert.deepEqual(grown.added, [4, 5].map(simulatorVin));
    assert.deepEqual((await ensureFleet(dir)).vehicles.length, 5);
  });

  it('refuses a fleet file it cannot use with UP_FLEET_FILE', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'ota-up-'));
    try {
      for (const content of ['{', JSON.stringify({ version: 1, vehicles: ['NOT-A-VIN'] }), JSON.stringify({ version: 1, vehicles: [simulatorVin(1), simulatorVin(1)] })]) {
        await writeFile(join(bad, 'fleet.json'), content);
        await assert.rejects(ensureFleet(bad), { code: 'UP_FLEET_FILE' });
      }
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

describe('ensurePki', () => {
  let pki: string;
  before(async () => {
    pki = join(await mkdtemp(join(tmpdir(), 'ota-up-')), 'pki');
  });
  after(() => rm(join(pki, '..'), { recursive: true, force: true }));

  it('creates CA, broker (loopback SANs), manager, release and one certificate per vehicle', async () => {
    const vins = [simulatorVin(1), simulatorVin(2)];
    const r = await ensurePki(pki, vins);
    assert.equal(r.createdCa, true);
    assert.deepEqual(r.issued, ['broker', 'manager', 'release', ...vins]);
    const index = await listPki(pki);
    assert.deepEqual(
      index.certificates.map((c) => [c.name, c.role]),
      [['broker', 'broker'], ['manager', 'manager'], ['release', 'release'], [vins[0], 'vehicle'], [vins[1], 'vehicle']],
    );
    const san = new X509Certificate(await readFile(join(pki, 'broker.pem'))).subjectAltName ?? '';
    for (const name of ['IP Address:127.0.0.1', 'DNS:localhost', 'IP Address:0:0:0:0:0:0:0:1']) assert.ok(san.includes(name), san);
    assert.equal((await stat(join(pki, `${vins[0] as string}.key`))).mode & 0o077, 0, 'keys are private');
  });

  it('issues nothing on a second start, and only what is missing or revoked after', async () => {
    const vins = [simulatorVin(1), simulatorVin(2)];
    assert.deepEqual(await ensurePki(pki, vins), { createdCa: false, issued: [] });
    await revoke(pki, vins[1] as string);
    await rm(join(pki, 'manager.key'));
    const r = await ensurePki(pki, [...vins, simulatorVin(3)]);
    assert.deepEqual(r.issued, ['manager', vins[1], simulatorVin(3)]);
  });
});
