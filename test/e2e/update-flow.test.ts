/**
 * Firmware update end to end with real processes: `ota up --vehicles 1` (embedded broker, manager, one
 * simulated vehicle) and the real CLI for every step — `ota firmware sample|add|list|show`, `ota flash`
 * (by id, by file, dry run), `ota jobs`, `ota diag read-did F189`, `ota fleet`. Then the refusals a person
 * can provoke from the CLI, each leaving the ECU untouched: a tampered image (refused at add), firmware
 * for another hardware id (refused at job creation), a rollback (refused by the gateway, FW_ROLLBACK).
 *
 * Not reachable from the CLI (the manager signs every assignment for the job's own vehicle and ECU with a
 * fresh nonce): an assignment for another vehicle and a replayed assignment — the gateway's refusals of
 * those are tested against a scripted manager in test/gateway/update.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FirmwareRecord, Job, VehicleView } from '../../src/manager/index.js';
import { simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, otaJson, startUp, tempDataDir, type UpProcess } from './harness.js';

const IMAGE = 56 * 1024;

/** The Intel HEX text with one data byte of record `line` flipped and its checksum fixed: a valid file, another image. */
function tamper(hex: string, line: number): string {
  const lines = hex.split('\n');
  const bytes = Buffer.from((lines[line] as string).slice(1), 'hex');
  bytes[4] = (bytes[4] as number) ^ 0x01; // first data byte (after count, address, type)
  bytes[bytes.length - 1] = (0x100 - (bytes.subarray(0, -1).reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  lines[line] = ':' + bytes.toString('hex').toUpperCase();
  return lines.join('\n');
}

describe('firmware update end to end (ota up, real CLI)', { timeout: 150_000 }, () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let up: UpProcess;
  const vin = simulatorVin(1);
  const d = (): string[] => ['--data', data.dir];
  const file = (name: string): string => join(data.dir, name);
  const engineVersion = (): string => {
    const r = ota(['diag', '000001', 'read-did', 'F189', ...d()]);
    assert.equal(r.status, 0, r.stderr);
    const m = /0xF189 applicationSoftwareVersion\s+"([^"]*)"/.exec(r.stdout);
    assert.ok(m, r.stdout);
    return m[1] as string;
  };
  const jobs = (): Job[] => otaJson<{ jobs: Job[] }>(['jobs', ...d()]).json.jobs;

  before(async () => {
    data = await tempDataDir('ota-update-');
    up = await startUp(data.dir, ['--vehicles', '1']);
  });
  after(async () => {
    await up?.stop().catch(() => undefined);
    killAll();
    await data?.cleanup();
  });

  it('sample → add → flash by id: DID 0xF189 and ota fleet show the new version', () => {
    const sample = ota(['firmware', 'sample', '--version', '1.1.0', '--out', file('app.hex'), ...d()]);
    assert.equal(sample.status, 0, sample.stderr);
    const added = otaJson<{ created: boolean; firmware: FirmwareRecord }>(['firmware', 'add', file('app.hex'), ...d()]);
    assert.equal(added.status, 0, added.stderr);
    const fw = added.json.firmware;
    assert.equal(added.json.created, true);
    assert.deepEqual([fw.hardwareId, fw.version, fw.counter, fw.length, fw.loadAddress, fw.format], ['stm32f103c8', '1.1.0', 1_001_000, IMAGE, 0x0800_2000, 'ihex']);
    const again = ota(['firmware', 'add', file('app.hex'), ...d()]);
    assert.equal(again.status, 0);
    assert.match(again.stdout, new RegExp(`^already in the repository: firmware ${fw.id}: stm32f103c8 1\\.1\\.0 counter 1001000`));
    assert.match(ota(['firmware', 'list', ...d()]).stdout, new RegExp(`^${fw.id}\\s+stm32f103c8\\s+1\\.1\\.0\\s+1001000\\s+57344`, 'm'));
    assert.match(ota(['firmware', 'show', fw.id, ...d()]).stdout, /^signer\s+release \(serial/m);

    const plan = ota(['flash', '000001', '--ecu', 'engine', fw.id, '--dry-run', ...d()]);
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`dry run: would flash engine of ${vin}: 1\\.0\\.0-factory → 1\\.1\\.0`));
    assert.deepEqual(jobs(), [], 'a dry run creates no job');

    const flash = ota(['flash', '000001', '--ecu', 'engine', fw.id, ...d()]);
    assert.equal(flash.status, 0, flash.stdout + flash.stderr);
    assert.match(flash.stdout, /downloading 57344 bytes \(112 chunks of 512 B\)/);
    assert.match(flash.stdout, new RegExp(`^done: engine of ${vin}: 1\\.0\\.0-factory → 1\\.1\\.0 \\(job [0-9a-f]{16}, 57344 bytes sent`, 'm'));

    assert.equal(engineVersion(), '1.1.0');
    const fleet = otaJson<{ vehicles: VehicleView[] }>(['fleet', ...d()]).json.vehicles;
    const ecus = Object.fromEntries((fleet[0]?.ecus ?? []).map((e) => [e.name, [e.appVersion, e.mode]]));
    assert.deepEqual(ecus, { engine: ['1.1.0', 'application'], body: ['1.0.0-factory', 'application'] });

    const [job] = jobs();
    assert.equal(job?.state, 'done');
    assert.equal(job?.installedVersion, '1.1.0');
    assert.equal(job?.bytesSent, IMAGE);
    assert.match(ota(['jobs', 'show', job?.id as string, ...d()]).stdout, /^state\s+done, phase done 100%$/m);
    const cancel = ota(['jobs', 'cancel', job?.id as string, ...d()]);
    assert.equal(cancel.status, 1);
    assert.match(cancel.stderr, /^error JOB_FINISHED: /m);
  });

  it('ota flash <file> adds the image with <file>.manifest, then flashes it (--json: the final job)', () => {
    assert.equal(ota(['firmware', 'sample', '--version', '1.2.0', '--out', file('app-1.2.0.hex'), ...d()]).status, 0);
    const flash = otaJson<Job>(['flash', '000001', '--ecu', 'engine', file('app-1.2.0.hex'), ...d()]);
    assert.equal(flash.status, 0, flash.stderr);
    assert.deepEqual([flash.json.state, flash.json.fromVersion, flash.json.installedVersion], ['done', '1.1.0', '1.2.0']);
    assert.equal(engineVersion(), '1.2.0');
  });

  it('a tampered image is refused at add with FW_DIGEST_MISMATCH, and nothing is stored', async () => {
    assert.equal(ota(['firmware', 'sample', '--version', '1.3.0', '--out', file('t.hex'), ...d()]).status, 0);
    await writeFile(file('t.hex'), tamper(await readFile(file('t.hex'), 'utf8'), 20));
    const before = otaJson<{ firmware: FirmwareRecord[] }>(['firmware', 'list', ...d()]).json.firmware.length;
    const add = ota(['firmware', 'add', file('t.hex'), ...d()]);
    assert.equal(add.status, 1);
    assert.match(add.stderr, /^error FW_DIGEST_MISMATCH: /m);
    const flash = ota(['flash', '000001', '--ecu', 'engine', file('t.hex'), ...d()]);
    assert.equal(flash.status, 1);
    assert.match(flash.stderr, /^error FW_DIGEST_MISMATCH: /m);
    assert.equal(otaJson<{ firmware: FirmwareRecord[] }>(['firmware', 'list', ...d()]).json.firmware.length, before);
  });

  it('firmware for another hardware id is refused when the job is created (FW_WRONG_HARDWARE): no job, ECU untouched', () => {
    assert.equal(ota(['firmware', 'sample', '--version', '1.4.0', '--hardware', 'stm32f103cb', '--out', file('cb.hex'), ...d()]).status, 0);
    const before = jobs().length;
    const flash = ota(['flash', '000001', '--ecu', 'engine', file('cb.hex'), ...d()]);
    assert.equal(flash.status, 1);
    assert.match(flash.stdout, /^added firmware [0-9a-f]{16}: stm32f103cb 1\.4\.0/m, 'the repository takes it: it is validly signed');
    assert.match(flash.stderr, /^error FW_WRONG_HARDWARE: .*stm32f103cb.*stm32f103c8/m);
    assert.equal(jobs().length, before);
    assert.equal(engineVersion(), '1.2.0');
  });

  it('a release counter not above the installed one is refused by the gateway (FW_ROLLBACK): job failed, nothing sent, ECU untouched', () => {
    for (const [version, counter] of [
      ['1.1.5', undefined], // counter 1001005 < installed 1002000
      ['1.2.1', '1002000'], // equal counter: "above" is strict
    ] as const) {
      const out = file(`rb-${version}.hex`);
      assert.equal(ota(['firmware', 'sample', '--version', version, '--out', out, ...(counter === undefined ? [] : ['--counter', counter]), ...d()]).status, 0);
      const flash = ota(['flash', '000001', '--ecu', 'engine', out, ...d()]);
      assert.equal(flash.status, 1, flash.stdout);
      assert.match(flash.stdout, new RegExp(`^failed: engine of ${vin} stays at 1\\.2\\.0: FW_ROLLBACK: `, 'm'));
      assert.match(flash.stderr, /^error FW_ROLLBACK: /m);
      const [job] = otaJson<{ jobs: Job[] }>(['jobs', '--state', 'failed', '--vehicle', '000001', ...d()]).json.jobs;
      assert.equal(job?.toVersion, version);
      assert.equal(job?.reason?.code, 'FW_ROLLBACK');
      assert.equal(job?.bytesSent, 0, 'refused at the offer, before any download');
    }
    assert.equal(engineVersion(), '1.2.0');
  });
});
