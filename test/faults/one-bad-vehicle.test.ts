// Issue 10 §4, "One bad vehicle does not stop the fleet": a real `ota up` (and `ota vehicle`, `ota broker`)
// over a data directory where one simulated vehicle has a damaged file. The other vehicles come online
// (checked with `ota fleet --json`), the bad one is reported once — vehicle, path, what to do — and stays
// offline, and the process keeps running. A missing crl.pem fails closed.
//
// One `ota up` run makes the data directory (PKI, ECU state, the manager's record of all three vehicles);
// each case damages a copy of it.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnOta } from '../helpers/ota-cli.js';
import { childEnv, killAll, ota, otaJson, startUp, tempDataDir } from '../e2e/harness.js';

const TEST_MS = 120_000;
/** How long a failing `ota vehicle` / `ota up` may take to exit, and a broker to answer. */
const EXIT_MS = 30_000;

interface FleetVehicle {
  id: string;
  online: boolean;
  reachable: boolean;
}

/** A child's output so far, and its exit. */
function watch(child: ChildProcessWithoutNullStreams): { out: () => string; err: () => string; exited: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdin.end();
  return { out: () => out, err: () => err, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** Resolves when `probe()` holds, polling output already collected; rejects after `ms`. */
async function until(probe: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the exit code, or kills the child and rejects after `ms`. */
async function exitWithin(child: ChildProcessWithoutNullStreams, exited: Promise<number | null>, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('faults: one bad vehicle does not stop `ota up`', { timeout: 8 * TEST_MS }, () => {
  let root: { dir: string; cleanup(): Promise<void> };
  let base: string;
  let ids: string[];

  before(async () => {
    root = await tempDataDir('ota-faults-');
    base = join(root.dir, 'base');
    const up = await startUp(base, ['--vehicles', '3']);
    ids = otaJson<{ vehicles: FleetVehicle[] }>(['fleet', '--data', base]).json.vehicles.map((v) => v.id).sort();
    assert.equal(ids.length, 3);
    assert.equal(await up.stop(), 0);
  }, { timeout: TEST_MS });

  after(async () => {
    killAll();
    await root?.cleanup();
  });

  /** A copy of the base data directory (no manager.json: nothing runs on it). */
  function copy(): string {
    const dir = mkdtempSync(join(root.dir, 'case-'));
    cpSync(base, dir, { recursive: true });
    rmSync(join(dir, 'manager.json'), { force: true });
    return dir;
  }

  const bad = (): string => ids[1] as string;
  const ecuDir = (data: string, ecu: string): string => join(data, 'vehicles', bad(), 'ecus', ecu);

  const cases: Array<{ what: string; code: string; file: (data: string) => string; damage: (path: string) => void }> = [
    { what: 'flash.bin truncated', code: 'FLASH_STATE_CORRUPT', file: (d) => join(ecuDir(d, 'engine'), 'flash.bin'), damage: (p) => truncateSync(p, 1000) },
    { what: 'flash.bin garbage', code: 'FLASH_STATE_CORRUPT', file: (d) => join(ecuDir(d, 'body'), 'flash.bin'), damage: (p) => writeFileSync(p, 'garbage\n') },
    { what: 'state.json garbage', code: 'ECU_STATE_CORRUPT', file: (d) => join(ecuDir(d, 'body'), 'state.json'), damage: (p) => writeFileSync(p, 'garbage\n') },
    { what: 'vehicle key garbage', code: 'SIM_BAD_KEY', file: (d) => join(d, 'pki', `${bad()}.key`), damage: (p) => writeFileSync(p, 'garbage\n') },
    { what: 'vehicle key empty', code: 'SIM_BAD_KEY', file: (d) => join(d, 'pki', `${bad()}.key`), damage: (p) => writeFileSync(p, '') },
    { what: 'vehicle certificate garbage', code: 'SIM_BAD_CERTIFICATE', file: (d) => join(d, 'pki', `${bad()}.pem`), damage: (p) => writeFileSync(p, 'garbage\n') },
  ];

  for (const c of cases) {
    it(`${c.what}: the others come online, ${c.code} is reported once with vehicle, path and remedy, the process runs on`, { timeout: TEST_MS }, async () => {
      const data = copy();
      const path = c.file(data);
      c.damage(path);
      const up = await startUp(data);
      try {
        const fleet = otaJson<{ vehicles: FleetVehicle[] }>(['fleet', '--data', data]);
        assert.equal(fleet.status, 0, fleet.stderr);
        const byId = new Map(fleet.json.vehicles.map((v) => [v.id, v]));
        for (const id of ids.filter((v) => v !== bad())) assert.equal(byId.get(id)?.reachable, true, `${id} is online with a session`);
        assert.equal(byId.get(bad())?.online, false, 'the bad vehicle stays offline');

        const mentions = up.stderr().split('\n').filter((l) => l.includes(bad()));
        assert.equal(mentions.length, 1, `reported once, and nothing else about it:\n${up.stderr()}`);
        const line = mentions[0] as string;
        assert.ok(line.startsWith(`vehicle ${bad()} not started (${c.code}): ${path}: `), line);
        assert.match(line, /To fix: /);
        assert.match(up.stdout(), new RegExp(`not started: ${bad()}`), 'the banner lists it');
        assert.equal(up.child.exitCode, null, 'ota up keeps running');
      } finally {
        assert.equal(await up.stop(), 0);
      }
    });
  }

  it('crl.pem missing: `ota up` refuses to start (UP_NO_CRL) naming the file, and starts nothing', { timeout: TEST_MS }, async () => {
    const data = copy();
    const crl = join(data, 'pki', 'crl.pem');
    rmSync(crl);
    const child = spawnOta(['up', '--data', data, '--port', '0', '--broker-port', '0'], { env: childEnv });
    const w = watch(child);
    assert.equal(await exitWithin(child, w.exited, EXIT_MS), 1);
    assert.ok(w.err().startsWith(`error UP_NO_CRL: ${crl} is missing`), w.err());
    assert.match(w.err(), /ota pki crl --dir /);
    assert.doesNotMatch(w.out(), /ready/);
    // The remedy works: the CRL rewritten from the index, the fleet starts.
    assert.equal(ota(['pki', 'crl', '--dir', join(data, 'pki')]).status, 0);
    const up = await startUp(data);
    assert.equal(await up.stop(), 0);
  });

  it('crl.pem missing at start of `ota broker`: a revoked vehicle is refused (BROKER_TRUST_UNAVAILABLE), one line names the file', { timeout: TEST_MS }, async () => {
    const data = copy();
    const pki = join(data, 'pki');
    assert.equal(ota(['pki', 'revoke', '--dir', pki, '--name', bad()]).status, 0);
    const vehiclePki = mkdtempSync(join(root.dir, 'vehicle-pki-'));
    cpSync(pki, vehiclePki, { recursive: true }); // the vehicle's own copy still has a CRL: it starts and tries
    const crl = join(pki, 'crl.pem');
    rmSync(crl);
    const broker = spawnOta(['broker', '--pki', pki, '--port', '0'], { env: childEnv });
    const b = watch(broker);
    let vehicle: ChildProcessWithoutNullStreams | undefined;
    try {
      await until(() => /broker listening on (mqtts:\/\/\S+)/.test(b.out()), EXIT_MS, 'the broker to listen');
      const url = (/broker listening on (mqtts:\/\/\S+)/.exec(b.out()) as RegExpExecArray)[1] as string;
      const named = b.err().split('\n').filter((l) => l.includes('BROKER_TRUST_UNAVAILABLE') && l.includes(crl));
      assert.equal(named.length, 1, b.err());
      vehicle = spawnOta(['vehicle', '--id', bad(), '--pki', vehiclePki, '--data', data, '--broker', url], { env: childEnv });
      const v = watch(vehicle);
      const refused = `refused connect client "${bad()}"`;
      await until(() => b.err().includes(refused), EXIT_MS, 'the broker to refuse the vehicle');
      assert.match(b.err(), new RegExp(`${refused} from \\S+: BROKER_TRUST_UNAVAILABLE`));
      assert.doesNotMatch(v.out(), /online at/, 'the revoked vehicle never got online');
      assert.equal(broker.exitCode, null, 'the broker runs on');
    } finally {
      vehicle?.kill('SIGKILL');
      broker.kill('SIGTERM');
      await exitWithin(broker, b.exited, EXIT_MS);
    }
  });

  describe('`ota vehicle --id V` exits with a message naming its own damaged file', () => {
    const vehicleCases: Array<{ what: string; code: string; file: (data: string) => string; damage: (path: string) => void }> = [
      ...cases.filter((c) => ['flash.bin truncated', 'state.json garbage', 'vehicle key empty', 'vehicle certificate garbage'].includes(c.what)),
      { what: 'crl.pem missing', code: 'SIM_NO_CRL', file: (d) => join(d, 'pki', 'crl.pem'), damage: (p) => rmSync(p) },
    ];
    for (const c of vehicleCases) {
      it(`${c.what}: exit 1, ${c.code}, the path`, { timeout: TEST_MS }, async () => {
        const data = copy();
        const path = c.file(data);
        c.damage(path);
        const child = spawnOta(['vehicle', '--id', bad(), '--data', data, '--broker', 'mqtts://127.0.0.1:1'], { env: childEnv });
        const w = watch(child);
        assert.equal(await exitWithin(child, w.exited, EXIT_MS), 1);
        assert.ok(w.err().startsWith(`error ${c.code}: vehicle ${bad()}: ${path}: `), w.err());
        assert.doesNotMatch(w.out(), /online/);
      });
    }
  });
});
