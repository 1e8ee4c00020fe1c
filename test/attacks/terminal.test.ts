// Issue 9 §4, no spoofed terminal: a hostile vehicle announces strings with ESC/OSC sequences, CR, BEL,
// 8-bit CSI and bidi overrides, and answers diagnostics with such an error message. The real `ota`
// commands (child processes against a real manager and TLS broker) show every one of them escaped, and
// `--json` stays valid JSON that still carries the exact string.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { jobDetails, jobsTable } from '../../src/cli/jobs.js';
import { describeFirmware, firmwareDetails, firmwareTable } from '../../src/cli/update/firmware-commands.js';
import type { FirmwareRecord } from '../../src/manager/firmware/repository.js';
import { createManager, type Job, type Manager } from '../../src/manager/index.js';
import type { Broker } from '../../src/broker/index.js';
import type { EcuInventory } from '../../src/protocol/ota/messages.js';
import { spawnOta } from '../helpers/ota-cli.js';
import { makeDataDir, memoryLog, ScriptedVehicle, startTestBroker, VEHICLE_A, waitFor, type TestData } from '../manager/fixtures.js';

/** OSC 0 (set the window title) ended by BEL, CSI 2J (clear the screen), CR back over the real version. */
const HOSTILE_APP = '\u001b]0;owned\u0007\u001b[2J9.9.9\rFAKE';
/** 8-bit CSI (U+009B) and DEL. */
const HOSTILE_BOOT = '1.0\u009b31m\u007f';
/** A right-to-left override and a line feed that would start a line of its own. */
const HOSTILE_HW = 'stm\u202e23f\nVIN-FAKE-0000001 online';
const HOSTILE_ECUS: EcuInventory[] = [
  { name: 'engine', link: 'can', address: '0x7E0', appVersion: HOSTILE_APP, bootVersion: HOSTILE_BOOT, mode: 'application', serial: 'ENG-1', hardwareId: HOSTILE_HW },
  { name: 'body\u001b[8m', link: 'can', address: '0x7E1', appVersion: '2.1.0', bootVersion: '1.0.0', mode: 'application', serial: 'BDY-1', hardwareId: 'stm32f103c8' },
];
/** Index of the first code unit a terminal acts on (C0, DEL, C1, U+2028/9, bidi controls), LF too unless `allowLf`; -1 if none. */
function firstControl(text: string, allowLf = false): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (allowLf && c === 0x0a) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x200e || c === 0x200f || c === 0x2028 || c === 0x2029) return i;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return i;
  }
  return -1;
}

/**
 * `ota <args>` as a child process, without blocking this process (the manager under test runs in it).
 * Killed after `timeoutMs`.
 */
function ota(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnOta(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function assertInert(text: string, what: string): void {
  const at = firstControl(text, true); // LF excepted: our own line breaks
  assert.equal(at, -1, `${what} holds the raw control U+${text.charCodeAt(at).toString(16).padStart(4, '0')} at ${at}:\n${JSON.stringify(text)}`);
}

describe('issue 9 §4: no spoofed terminal through the ota CLI', () => {
  let data: TestData;
  let broker: Broker;
  let manager: Manager;
  let vehicle: ScriptedVehicle;

  before(async () => {
    data = await makeDataDir();
    broker = await startTestBroker(data.pkiDir);
    manager = await createManager({ dataDir: data.dataDir, brokerUrl: broker.url, http: { host: '127.0.0.1', port: 0 }, log: memoryLog() });
    await manager.waitForBroker(10_000);
    vehicle = await ScriptedVehicle.connect(broker.url, data.pkiDir, VEHICLE_A);
    vehicle.ecus = HOSTILE_ECUS;
    vehicle.responder = () => ({ error: { code: 'GW_UDS', message: 'ECU said \u001b]52;c;cm0gLXJmIH4=\u0007\u001b[1A\rOK: unlocked' } });
    await vehicle.connectSession(10_000);
    await waitFor('the hostile inventory is registered', async () => ((await manager.vehicle(VEHICLE_A))?.ecus.length ?? 0) === 2, 10_000);
  });
  after(async () => {
    await vehicle?.close().catch(() => undefined);
    await manager?.close();
    await broker?.close();
    await data?.cleanup();
  });

  it('ESC/OSC/CR/BEL in an announced appVersion: ota fleet shows them escaped, the screen is not rewritten', async () => {
    const r = await ota(['fleet', '--data', data.dataDir]);
    assert.equal(r.status, 0, r.stderr);
    assertInert(r.stdout, 'ota fleet');
    assert.ok(r.stdout.includes('\\u001B]0;owned\\u0007\\u001B[2J9.9.9\\u000DFAKE'), r.stdout);
    assert.ok(r.stdout.includes('1.0\\u009B31m\\u007F'), r.stdout);
    assert.ok(r.stdout.includes('body\\u001B[8m'), r.stdout);
    // The LF in hardwareId does not start a line: one line per ECU under the header, then the summary.
    assert.equal(r.stdout.trimEnd().split('\n').length, 4, r.stdout);
  });

  it('ota fleet --json stays valid JSON, carries the exact strings, and holds no raw control either', async () => {
    const r = await ota(['fleet', '--data', data.dataDir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assertInert(r.stdout, 'ota fleet --json');
    const json = JSON.parse(r.stdout) as { vehicles: Array<{ ecus: Array<{ name: string; appVersion: string; bootVersion: string; hardwareId: string }> }> };
    const ecus = json.vehicles[0]?.ecus ?? [];
    const engine = ecus.find((e) => e.name === 'engine');
    assert.equal(engine?.appVersion, HOSTILE_APP);
    assert.equal(engine?.bootVersion, HOSTILE_BOOT);
    assert.equal(engine?.hardwareId, HOSTILE_HW);
    assert.ok(ecus.some((e) => e.name === 'body\u001b[8m'));
  });

  it('an OSC 52 clipboard write and CR in a vehicle error message: ota diag prints one escaped error line', async () => {
    const r = await ota(['diag', VEHICLE_A, 'read-did', 'version', '--data', data.dataDir, '--timeout', '5000']);
    assert.equal(r.status, 1);
    assertInert(r.stdout + r.stderr, 'ota diag');
    assert.ok(r.stderr.includes('\\u001B]52;c;cm0gLXJmIH4=\\u0007\\u001B[1A\\u000DOK: unlocked'), r.stderr);
  });

  it('ota diag --json of the same refusal is valid JSON with the exact message', async () => {
    const r = await ota(['diag', VEHICLE_A, 'read-did', 'version', '--data', data.dataDir, '--timeout', '5000', '--json']);
    assert.equal(r.status, 1);
    assertInert(r.stdout + r.stderr, 'ota diag --json');
    const json = JSON.parse(r.stdout) as { ok: boolean; error: { message: string } };
    assert.equal(json.ok, false);
    assert.ok(json.error.message.includes('\u001b]52;c;cm0gLXJmIH4=\u0007\u001b[1A\rOK: unlocked'), json.error.message);
  });

  it('ECU names with ESC in ota shell: the ecu listing shows them escaped', async () => {
    const r = await ota(['shell', VEHICLE_A, '--data', data.dataDir], { input: 'ecu\nexit\n' });
    assert.equal(r.status, 0, r.stderr);
    assertInert(r.stdout + r.stderr, 'ota shell');
    assert.ok(r.stdout.includes('body\\u001B[8m'), r.stdout);
  });
});

describe('issue 9 §4: jobs and firmware views of hostile strings', () => {
  // fromVersion comes from the ECU's announced appVersion, reason.message from the gateway, the signer's CN
  // from a release certificate file: each is shown escaped, and a LF in one adds no line.
  const job: Job = {
    id: '0123456789abcdef', vehicleId: 'ZZSVECU15SA000001', ecu: 'engine', firmwareId: 'ed9942e962e39e21',
    state: 'failed', phase: 'programming', percent: 40, reason: { code: 'GW_FLASH', message: 'ECU said \u001b[2K\rdone\nOK' },
    fromVersion: HOSTILE_APP, toVersion: '1.1.0', installedVersion: null, nonce: '00'.repeat(16), expiresAt: '2030-01-01T00:00:00.000Z',
    chunkSize: 512, chunks: 112, imageLength: 57_344, bytesSent: 0, chunksSent: 0, offers: 1, createdBy: 'api:cli',
    createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z', finishedAt: null, transfer: null,
  };
  const firmware: FirmwareRecord = {
    id: 'ed9942e962e39e21', manifestDigest: 'ab'.repeat(32), hardwareId: HOSTILE_HW, version: '1.1.0', counter: 2, length: 1024,
    sha256: 'cd'.repeat(32), loadAddress: 0x0800_2000, format: 'ihex', signer: { cn: 'release\u009d52;c;x\u009c', serial: '01' },
    addedAt: '2030-01-01T00:00:00.000Z', addedBy: 'api:cli', revoked: false,
  };

  it('ota jobs (table) and ota jobs show escape the ECU version and the gateway reason', () => {
    const table = jobsTable([job]);
    assertInert(table, 'jobsTable');
    assert.equal(table.split('\n').length, 3);
    assert.ok(table.includes('\\u001B]0;owned\\u0007'), table);
    const details = jobDetails(job);
    assertInert(details, 'jobDetails');
    assert.ok(details.includes('ECU said \\u001B[2K\\u000Ddone\\u000AOK'), details);
  });

  it('ota firmware list / show / add escape the hardware id and the signer', () => {
    for (const [what, text] of [['firmwareTable', firmwareTable([firmware])], ['firmwareDetails', firmwareDetails(firmware)], ['describeFirmware', describeFirmware(firmware)]] as const) {
      assertInert(text, what);
      assert.ok(text.includes('stm\\u202E23f\\u000AVIN-FAKE'), `${what}: ${text}`);
    }
    assert.ok(firmwareDetails(firmware).includes('release\\u009D52;c;x\\u009C'));
  });
});

