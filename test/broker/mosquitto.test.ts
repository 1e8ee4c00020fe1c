import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mosquittoAcl, mosquittoConf, writeMosquittoConfig } from '../../src/broker/mosquitto.js';
import { issueToDir, revoke } from '../../src/security/pki/index.js';
import { DOWNLINK, UPLINK } from '../../src/security/topics.js';
import { connect, connectFails, makePki, sleep, type TestPki } from './helpers.js';
import { MOSQUITTO_SKIP, confDirFor, startMosquitto, type MosquittoProcess } from './mosquitto-process.js';
import { brokerSecuritySuite } from './suite.js';

describe('mosquittoAcl', () => {
  it('confines vehicles with one %u pattern per topic of the namespace, the same table authorize() uses', () => {
    const acl = mosquittoAcl(['manager']).split('\n');
    const patterns = acl.filter((l) => l.startsWith('pattern '));
    assert.deepEqual(patterns, [
      ...UPLINK.map((leaf) => `pattern write ota/v1/%u/${leaf}`),
      ...DOWNLINK.map((leaf) => `pattern read ota/v1/%u/${leaf}`),
    ]);
    assert.ok(!patterns.some((p) => /[#+]/.test(p)), 'no wildcard is granted to a vehicle');
  });

  it('gives each manager CN the whole namespace and nothing else', () => {
    const acl = mosquittoAcl(['manager', 'ops']);
    assert.match(acl, /^user manager\ntopic readwrite ota\/v1\/#\n\nuser ops\ntopic readwrite ota\/v1\/#$/m);
    assert.equal(acl.split('\n').filter((l) => l.startsWith('topic ')).length, 2);
  });
});

describe('mosquittoConf', () => {
  it('requires a certificate from the fleet CA, honours the CRL, and names users by CN', () => {
    const conf = mosquittoConf({ pkiDir: '/srv/ota/pki', aclPath: '/etc/ota/acl', host: '127.0.0.1', port: 8883 }).split('\n');
    for (const line of [
      'listener 8883 127.0.0.1',
      'cafile /srv/ota/pki/ca.pem',
      'certfile /srv/ota/pki/broker.pem',
      'keyfile /srv/ota/pki/broker.key',
      'crlfile /srv/ota/pki/crl.pem',
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      'acl_file /etc/ota/acl',
      'persistence false',
      'log_dest stdout',
    ]) {
      assert.ok(conf.includes(line), line);
    }
    assert.ok(!conf.some((l) => l.startsWith('user ')), 'no user line unless asked');
  });
});

describe('writeMosquittoConfig', () => {
  let pki: TestPki;
  before(async () => (pki = await makePki()));
  after(async () => pki.cleanup());

  it('takes the unrevoked managers from the PKI index', async () => {
    await issueToDir(pki.dir, { role: 'manager', name: 'manager-old' });
    await revoke(pki.dir, 'manager-old');
    const written = await writeMosquittoConfig({ pkiDir: pki.dir, outDir: join(pki.dir, '..', 'w1') });
    assert.deepEqual(written.managers, ['manager']);
    assert.deepEqual(written.warnings, []);
  });

  it('refuses paths Mosquitto would split at whitespace', async () => {
    await assert.rejects(writeMosquittoConfig({ pkiDir: pki.dir, outDir: join(pki.dir, '..', 'with space') }), { code: 'BROKER_BAD_OPTION' });
  });

  it('refuses port 0 (Mosquitto needs a real port)', async () => {
    await assert.rejects(writeMosquittoConfig({ pkiDir: pki.dir, outDir: join(pki.dir, '..', 'w2'), port: 0 }), { code: 'BROKER_BAD_OPTION' });
  });
});

brokerSecuritySuite({
  name: 'Mosquitto with the generated configuration',
  skip: MOSQUITTO_SKIP,
  enforcesClientId: false,
  refusedPublishCloses: false,
  refusedSubscribeGrants0x80: false,
  refusesBadWillAtConnect: false,
  async start(pki) {
    const m = await startMosquitto(pki.dir, confDirFor(pki.dir));
    return { url: m.url, stop: () => m.stop() };
  },
});

describe('Mosquitto and revocation', { skip: MOSQUITTO_SKIP }, () => {
  let pki: TestPki;
  let mosquitto: MosquittoProcess;
  before(async () => {
    pki = await makePki();
    mosquitto = await startMosquitto(pki.dir, confDirFor(pki.dir));
  });
  after(async () => {
    await mosquitto?.stop();
    await pki?.cleanup();
  });

  it('refuses a certificate revoked after start once it is sent SIGHUP (crlfile is re-read)', async () => {
    (await connect(mosquitto.url, pki, { name: 'VIN0002' })).end(true);
    await revoke(pki.dir, 'VIN0002');
    mosquitto.reload();
    // SIGHUP is handled in Mosquitto's main loop: poll until the new CRL is in force (bounded).
    let refused = false;
    for (let i = 0; i < 20 && !refused; i++) {
      refused = await connectFails(mosquitto.url, pki, { name: 'VIN0002' }).then(() => true, () => false);
      if (!refused) await sleep(100);
    }
    assert.equal(refused, true, 'the revoked certificate is refused after SIGHUP');
    const other = await connect(mosquitto.url, pki, { name: 'VIN0001' });
    await other.endAsync(true);
  });
});
