// `ota vehicle`: in process (runVehicle with an abort signal) and as a real process stopped by SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { brokerUrlOf, runVehicle } from '../../../src/cli/vehicle.js';
import { isOtaError } from '../../../src/protocol/errors.js';
import type { AnnounceMessage, ControlMessage } from '../../../src/protocol/ota/messages.js';
import { ScriptedManager, until } from '../../gateway/harness.js';
import { simFixture, type SimFixture } from './fixture.js';
import { spawnOta } from '../../helpers/ota-cli.js';

const V = 'CMD-V1';
const isAnnounce = (m: ControlMessage): m is AnnounceMessage => m.type === 'announce';

describe('ota vehicle', () => {
  let fx: SimFixture;
  let manager: ScriptedManager;

  before(async () => {
    fx = await simFixture(V);
    manager = await new ScriptedManager(fx.fleet, fx.broker.url).start();
  });
  after(async () => {
    await manager.stop();
    await fx.broker.stop();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  it('refuses to start without the vehicle certificate and names the command that issues it', async () => {
    const out: string[] = [];
    await assert.rejects(
      runVehicle({ id: 'NOBODY', pki: fx.pki, broker: fx.broker.url, data: fx.dir }, { out: (t) => out.push(t) }, new AbortController().signal),
      (e: unknown) => isOtaError(e) && e.code === 'SIM_NO_CERTIFICATE' && e.message.includes('ota pki issue'),
    );
    assert.deepEqual(out, []);
  });

  it('refuses a plaintext broker URL', async () => {
    await assert.rejects(
      runVehicle({ id: V, pki: fx.pki, broker: 'mqtt://127.0.0.1:1883', data: fx.dir }, { out: () => undefined }, new AbortController().signal),
      (e: unknown) => isOtaError(e) && e.code === 'GW_INSECURE_BROKER',
    );
  });

  it('takes the broker from manager.json only when --broker is absent', () => {
    assert.equal(brokerUrlOf('mqtts://a:1', fx.dir), 'mqtts://a:1');
    assert.equal(brokerUrlOf(undefined, fx.dir), 'mqtts://127.0.0.1:8883');
  });

  it('prints a line when online and stops cleanly when aborted', async () => {
    const out: string[] = [];
    const stop = new AbortController();
    const run = runVehicle({ id: V, pki: fx.pki, broker: fx.broker.url, data: fx.dir }, { out: (t) => out.push(t) }, stop.signal);
    await until(() => out.some((l) => l.includes('secure session')), 8000, 'the session line');
    assert.match(out[0] ?? '', new RegExp(`^vehicle ${V} online at mqtts://127\\.0\\.0\\.1:\\d+ \\(ECUs: engine can 0x7E0, body can 0x7E1\\)\\n$`));
    await manager.next(isAnnounce);
    stop.abort();
    await run;
    assert.equal(out.at(-1), `vehicle ${V} stopped\n`);
  });

  it('runs as its own process and exits 0 on SIGTERM, leaving offline behind', async () => {
    const child = spawnOta(['vehicle', '--id', V, '--pki', fx.pki, '--broker', fx.broker.url, '--data', fx.dir]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(() => stdout.includes('secure session'), 15_000, `the session line (stderr: ${stderr})`);
      await manager.next(isAnnounce);
      manager.status.length = 0;
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, new RegExp(`vehicle ${V} stopped\\n$`));
      await until(() => manager.status.includes('offline'), 3000, 'offline');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
