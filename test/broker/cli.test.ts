import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { DEFAULT_BROKER_LIMITS } from '../../src/broker/index.js';
import { parsePort, registerBroker } from '../../src/cli/broker.js';
import { connect, connectFails, makePki, WAIT_MS, type TestPki } from './helpers.js';
import { spawnOta } from '../helpers/ota-cli.js';

function program(): { run: (...args: string[]) => Promise<void>; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const p = new Command().name('ota').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  registerBroker(p, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { run: (...args) => p.parseAsync(['node', 'ota', ...args]).then(() => undefined), out, err };
}

describe('ota broker', () => {
  let pki: TestPki;
  before(async () => (pki = await makePki()));
  after(async () => pki.cleanup());

  it('runs until SIGTERM: prints its URL, logs a refusal in one line, exits 0', async () => {
    const child = spawnOta(['broker', '--pki', pki.dir, '--port', '0']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 4 * WAIT_MS);
    try {
      const deadline = Date.now() + 3 * WAIT_MS; // tsx compiles the CLI on first start
      while (!/listening on (mqtts:\/\/\S+)/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const url = /listening on (mqtts:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(url, `no URL printed: ${stdout} ${stderr}`);
      const vehicle = await connect(url, pki, { name: 'VIN0001' });
      await connectFails(url, pki, { name: 'VIN0001' }, { clientId: 'someone-else' });
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      await vehicle.endAsync(true);
      assert.match(stdout, /broker stopped \(SIGTERM\): 1 connections accepted, 1 refused/);
      const refusals = stderr.split('\n').filter((l) => l.includes('refused'));
      assert.equal(refusals.length, 1, stderr);
      assert.match(refusals[0] ?? '', /BROKER_CLIENT_ID/);
      assert.doesNotMatch(stderr, /PRIVATE KEY/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });

  describe('mosquitto-config', () => {
    it('writes mosquitto.conf and acl for the PKI, managers from its index', async () => {
      const cli = program();
      const out = join(pki.dir, '..', 'mq-cli');
      await cli.run('broker', 'mosquitto-config', '--pki', pki.dir, '--out', out, '--port', '18883', '--manager', 'ops-console');
      const conf = await readFile(join(out, 'mosquitto.conf'), 'utf8');
      const acl = await readFile(join(out, 'acl'), 'utf8');
      assert.match(conf, /^listener 18883 127\.0\.0\.1$/m);
      assert.match(conf, new RegExp(`^crlfile ${join(pki.dir, 'crl.pem')}$`, 'm'));
      assert.match(acl, /^user manager\ntopic readwrite ota\/v1\/#$/m);
      assert.match(acl, /^user ops-console\ntopic readwrite ota\/v1\/#$/m);
      assert.match(cli.out.join(''), /mosquitto -c .*mosquitto\.conf/);
    });

    it('writes the packet limit: the default, or --max-packet-bytes', async () => {
      const cli = program();
      const out = join(pki.dir, '..', 'mq-limits');
      await cli.run('broker', 'mosquitto-config', '--pki', pki.dir, '--out', out);
      assert.match(await readFile(join(out, 'mosquitto.conf'), 'utf8'), new RegExp(`^max_packet_size ${DEFAULT_BROKER_LIMITS.maxPacketBytes}$`, 'm'));
      await program().run('broker', 'mosquitto-config', '--pki', pki.dir, '--out', out, '--max-packet-bytes', '100000');
      const conf = await readFile(join(out, 'mosquitto.conf'), 'utf8');
      assert.match(conf, /^max_packet_size 100000$/m);
      assert.match(conf, /^message_size_limit 100000$/m);
    });

    it('refuses a manager name that is also a vehicle (it would get the whole namespace)', async () => {
      const cli = program();
      await assert.rejects(
        cli.run('broker', 'mosquitto-config', '--pki', pki.dir, '--out', join(pki.dir, '..', 'mq-bad'), '--manager', 'VIN0001'),
        { code: 'BROKER_BAD_OPTION' },
      );
    });
  });

  it('refuses a port out of range as a usage error', async () => {
    assert.equal(parsePort('8883'), 8883);
    assert.equal(parsePort('0'), 0);
    for (const bad of ['65536', '-1', '80a', '']) assert.throws(() => parsePort(bad), { code: 'commander.invalidArgument' });
  });
});
