/**
 * The end-to-end suite of the connected system, run once per broker: `ota up` (manager + three simulated
 * vehicles, real TLS, real secure channels) as a child process, and the real CLI as separate processes
 * for every step — fleet, diag (DTCs, a cross-process unlock and write, NRCs) and the shell over stdin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SERVER_TIMING } from '../../src/ecu/server/constants.js';
import type { VehicleView } from '../../src/manager/index.js';
import { isValidVin, simulatorVin } from '../../src/protocol/vin.js';
import { killAll, ota, otaJson, startUp, tempDataDir, type UpProcess } from './harness.js';

/** A broker the system runs against. */
export interface SystemTarget {
  name: string;
  /** Why it cannot run here; undefined to run. */
  skip?: string;
  /** Prepare the data directory and start the broker; returns the extra `ota up` arguments. */
  start(dataDir: string): Promise<{ upArgs: string[]; stop(): Promise<void> }>;
  /** The secure-channel suite the vehicles use (`--suite`). */
  suite: string;
}

interface DiagJson {
  ok: boolean;
  result?: unknown;
  exchanges: Array<{ request: string; response: string | null; positive: boolean; nrc?: { code: number; hex: string; name: string } }>;
}

/** The shell's script: the original verbs and diag commands, one failing request, and a line after exit that must not run. */
const SHELL_SCRIPT = ['help', 'read vin serial', 'read dtc --mask 0x08', 'ecu body', 'read app-version', 'read 0xF1A5', 'ecu engine', 'clear', 'read dtc', 'exit', 'reset'].join('\n') + '\n';

export function connectedSystemSuite(target: SystemTarget): void {
  describe(`connected system end to end (${target.name})`, { skip: target.skip, timeout: 120_000 }, () => {
    let data: Awaited<ReturnType<typeof tempDataDir>>;
    let broker: { stop(): Promise<void> } | undefined;
    let up: UpProcess;
    const vins = [1, 2, 3].map(simulatorVin);
    const d = (): string[] => ['--data', data.dir];

    before(async () => {
      data = await tempDataDir('ota-e2e-');
      const started = await target.start(data.dir);
      broker = started;
      up = await startUp(data.dir, ['--vehicles', '3', ...started.upArgs]);
    });
    after(async () => {
      await up?.stop().catch(() => undefined);
      await broker?.stop().catch(() => undefined);
      killAll();
      await data?.cleanup();
    });

    it('ota up prints where everything is and writes manager.json with the bound ports', () => {
      const out = up.stdout();
      assert.match(up.manager.api, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(up.manager.broker, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      for (const text of [up.manager.api + '/api/v1', up.manager.broker, `${data.dir}/manager/api-token`, `data ${data.dir}`, 'ota fleet', 'ota diag', 'ota shell', ...vins]) {
        assert.ok(out.includes(text), `banner lacks ${text}:\n${out}`);
      }
    });

    it('ota fleet --json lists three online vehicles with a secure session and their ECU versions', () => {
      const { status, json } = otaJson<{ vehicles: VehicleView[] }>(['fleet', ...d()]);
      assert.equal(status, 0);
      assert.deepEqual(json.vehicles.map((v) => v.id).sort(), [...vins].sort());
      for (const v of json.vehicles) {
        assert.ok(isValidVin(v.id));
        assert.equal(v.online, true, v.id);
        assert.equal(v.session, 'established', v.id);
        assert.equal(v.channelSuite, target.suite);
        assert.deepEqual(v.ecus.map((e) => [e.name, e.appVersion, e.bootVersion, e.mode]).sort(), [
          ['body', '1.0.0-factory', '1.0.0', 'application'],
          ['engine', '1.0.0-factory', '1.0.0', 'application'],
        ]);
      }
      const table = ota(['fleet', ...d()]);
      assert.equal(table.status, 0);
      assert.match(table.stdout, /3 vehicles, 3 online, 3 with a secure session/);
    });

    it('ota diag read-dtc decodes the default DTCs with their texts, and filters by status mask', () => {
      const all = ota(['diag', vins[0] as string, 'read-dtc', ...d()]);
      assert.equal(all.status, 0, all.stderr);
      for (const [code, text] of [['P0001-00', 'Fuel volume regulator'], ['P0100-00', 'Mass or volume air flow'], ['C0035-00', 'wheel speed sensor'], ['B0024-00', 'airbag'], ['U0100-00', 'Lost communication']]) {
        assert.match(all.stdout, new RegExp(`${code}.*${text}`), all.stdout);
      }
      assert.match(all.stdout, /warningIndicatorRequested/);
      // Mask 0x08 confirmedDTC: P0100 (status 0x24) is pending, not confirmed.
      const confirmed = otaJson<DiagJson & { result: { dtcs: Array<{ dtc: string; statusBits: string[] }> } }>(['diag', vins[0] as string, 'read-dtc', '--mask', '0x08', ...d()]);
      assert.equal(confirmed.status, 0);
      assert.deepEqual(confirmed.json.result.dtcs.map((x) => x.dtc), ['P0001-00', 'C0035-00', 'B0024-00', 'U0100-00']);
      assert.ok(confirmed.json.result.dtcs.every((x) => x.statusBits.includes('confirmedDTC')));
    });

    it('session extended → unlock → (a pause longer than S3) → write-did → read-did round-trips a value across four CLI processes', async () => {
      const value = `E2E-${Math.random().toString(36).slice(2, 8).toUpperCase().padEnd(6, '0')}`;
      const v = '000002'; // the unique end of the second VIN
      const session = ota(['diag', v, 'session', 'extended', ...d()]);
      assert.equal(session.status, 0, session.stderr);
      assert.match(session.stdout, /50 03/);
      const unlock = ota(['diag', v, 'unlock', ...d()]);
      assert.equal(unlock.status, 0, unlock.stdout + unlock.stderr);
      assert.match(unlock.stdout, /unlocked security level 0x01/);
      // Without the gateway's TesterPresent the ECU would fall back to the default session (and relock) after S3.
      await new Promise((r) => setTimeout(r, DEFAULT_SERVER_TIMING.s3Ms + 1000));
      const write = ota(['diag', v, 'write-did', 'repair-shop', value, ...d()]);
      assert.equal(write.status, 0, write.stdout + write.stderr);
      const read = otaJson<DiagJson & { result: Array<{ did: string; value: string }> }>(['diag', v, 'read-did', 'F198', ...d()]);
      assert.equal(read.status, 0);
      assert.equal(read.json.result[0]?.value, JSON.stringify(value));
    });

    it('unsupported and invalid requests come back as their NRC, decoded, with exit status 1', () => {
      const v = vins[0] as string;
      const control = ota(['diag', v, 'raw', '8501', ...d()]);
      assert.equal(control.status, 1);
      assert.match(control.stdout, /7F 85 7F/);
      assert.match(control.stdout, /NRC 0x7F serviceNotSupportedInActiveSession/);
      const unknown = otaJson<DiagJson>(['diag', v, 'raw', '23', ...d()]);
      assert.equal(unknown.status, 1);
      assert.equal(unknown.json.ok, false);
      assert.deepEqual(unknown.json.exchanges[0]?.nrc, { code: 0x11, hex: '0x11', name: 'serviceNotSupported' });
      const did = ota(['diag', v, 'read-did', '0xF1A5', ...d()]);
      assert.equal(did.status, 1);
      assert.match(did.stdout, /NRC 0x31 requestOutOfRange/);
    });

    it('ota shell runs commands fed through stdin, stops at exit, and exits 1 after a failed command', () => {
      const r = ota(['shell', '000003', ...d()], SHELL_SCRIPT);
      assert.equal(r.status, 1, r.stderr);
      const out = r.stdout;
      assert.match(out, /RequestDownload/, 'help lists the original verbs');
      assert.match(out, /0xF190 VIN\s+"ZZSVECU19SA000003"/);
      assert.match(out, /4 DTCs match status mask 0x08/);
      assert.match(out, /:body> read app-version\n0xF189 applicationSoftwareVersion\s+"1.0.0-factory"/);
      assert.match(out, /0xF1A5 .*NRC 0x31 requestOutOfRange/);
      assert.match(out, /ClearDiagnosticInformation: positive response/);
      assert.match(out, /0 DTCs match status mask 0xFF/);
      assert.ok(!out.includes('> reset\n'), 'nothing after exit runs');
    });
  });
}
