/**
 * `ota up` as a process over its life: refusals a person can act on (no manager, a second `ota up` on
 * the same data, ports in use), clean stop on SIGTERM, and a restart that finds the same vehicles with
 * the same ECU state.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, startUp, tempDataDir, type UpProcess } from './harness.js';

describe('ota up lifecycle (embedded broker)', { timeout: 150_000 }, () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let other: Awaited<ReturnType<typeof tempDataDir>>;
  let up: UpProcess | undefined;
  const [v1, v2] = [simulatorVin(1), simulatorVin(2)];

  before(async () => {
    data = await tempDataDir('ota-life-');
    other = await tempDataDir('ota-life-other-');
  });
  after(async () => {
    await up?.stop().catch(() => undefined);
    killAll();
    await data?.cleanup();
    await other?.cleanup();
  });

  it('without a manager, commands say MANAGER_NOT_RUNNING and how to start one', () => {
    const r = ota(['fleet', '--data', data.dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error MANAGER_NOT_RUNNING: .*`ota up`/m);
  });

  it('starts two vehicles, and refuses a second ota up on the same data directory', async () => {
    up = await startUp(data.dir, ['--vehicles', '2']);
    assert.match(up.stdout(), /new simulated vehicles: /);
    const again = ota(['up', '--data', data.dir, '--port', '0', '--broker-port', '0']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^error UP_ALREADY_RUNNING: /m);
  });

  it('names the option to change when a port is taken (broker, then API)', () => {
    const brokerPort = new URL(up?.manager.broker ?? '').port;
    const apiPort = new URL(up?.manager.api ?? '').port;
    const b = ota(['up', '--data', other.dir, '--vehicles', '0', '--port', '0', '--broker-port', brokerPort]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /^error UP_PORT_IN_USE: port \d+ \(broker\).*--broker-port/m);
    const a = ota(['up', '--data', other.dir, '--vehicles', '0', '--port', apiPort, '--broker-port', '0']);
    assert.equal(a.status, 1);
    assert.match(a.stderr, /^error UP_PORT_IN_USE: port \d+ \(API\).*--port/m);
    assert.equal(existsSync(join(other.dir, 'manager.json')), false, 'the failed start left no manager.json');
  });

  it('refuses unknown vehicles (exit 1) and bad usage (exit 2)', () => {
    const unknown = ota(['diag', 'NOSUCHVEHICLE', 'read-dtc', '--data', data.dir]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /^error VEHICLE_UNKNOWN: .*ota fleet/m);
    const usage = ota(['diag', v1 as string, 'read-dtc', '--level', '1', '--data', data.dir]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /CLI_USAGE/);
  });

  it('stops cleanly on SIGTERM, and a restart finds the same vehicles with their ECU state', async () => {
    const cleared = ota(['diag', v1 as string, 'clear-dtc', '--data', data.dir]);
    assert.equal(cleared.status, 0, cleared.stdout + cleared.stderr);
    const code = await up?.stop();
    assert.equal(code, 0, up?.stderr());
    assert.match(up?.stdout() ?? '', /\nstopped\n/);
    assert.equal(existsSync(join(data.dir, 'manager.json')), false);

    up = await startUp(data.dir);
    const out = up.stdout();
    assert.ok(!out.includes('new simulated vehicles') && !out.includes('issued certificates'), out);
    assert.match(out, /vehicles {2}2 simulated/);
    for (const v of [v1, v2]) assert.ok(out.includes(v as string), out);
    const after1 = ota(['diag', v1 as string, 'read-dtc', '--data', data.dir]);
    assert.match(after1.stdout, /0 DTCs match status mask 0xFF/, 'cleared DTCs stay cleared');
    const after2 = ota(['diag', v2 as string, 'read-dtc', '--data', data.dir]);
    assert.match(after2.stdout, /5 DTCs match/, 'the other vehicle kept its own');
  });
});
