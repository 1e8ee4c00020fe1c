// The end-to-end suite through a real Mosquitto 2 with the configuration `ota broker mosquitto-config`
// writes: `ota up --init-only` makes the PKI, Mosquitto is started on it, and `ota up --external-broker`
// runs manager and vehicles against it, with the 3DES suite for a change.
import { join } from 'node:path';
import { MOSQUITTO_SKIP, startMosquitto } from '../broker/mosquitto-process.js';
import { ota } from './harness.js';
import { connectedSystemSuite } from './suite.js';

connectedSystemSuite({
  name: 'Mosquitto',
  skip: MOSQUITTO_SKIP,
  suite: '3des-cbc-hmac-sha256',
  async start(dataDir) {
    const init = ota(['up', '--init-only', '--vehicles', '3', '--data', dataDir]);
    if (init.status !== 0) throw new Error(`ota up --init-only failed:\n${init.stdout}\n${init.stderr}`);
    const mosquitto = await startMosquitto(join(dataDir, 'pki'), join(dataDir, 'mosquitto'));
    return { upArgs: ['--external-broker', mosquitto.url, '--suite', '3des-cbc-hmac-sha256'], stop: () => mosquitto.stop() };
  },
});
