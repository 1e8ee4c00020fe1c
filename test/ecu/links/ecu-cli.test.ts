// `ota ecu` as a real child process on an ephemeral loopback port: it prints its address, answers a DoIP
// routing activation and UDS requests from the gateway's DoIP client, never logs keys or the secret, and
// exits 0 on SIGTERM. The fleet CA is generated at test time into a temp directory.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectDoipLink } from '../../../src/gateway/links/doip-client.js';
import { createCa } from '../../../src/security/pki/index.js';
import { tempDir } from '../helpers.js';
import { spawnOta } from '../../helpers/ota-cli.js';

const SECRET = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout match of `re` (rejects after `timeoutMs` or when the child exits). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

function run(args: string[]): Running {
  const child = spawnOta(args);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no ${re} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
        const check = (): void => {
          const m = re.exec(out);
          if (m !== null) finish(undefined, m);
          else if (child.exitCode !== null || child.signalCode !== null) finish(new Error(`child exited before ${re}; stdout: ${out}; stderr: ${err}`));
        };
        const finish = (e?: Error, m?: RegExpExecArray): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (m !== undefined) resolve(m);
          else reject(e);
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Sends `request` and resolves with the first response that is not a 0x78 pending. */
async function ask(link: Awaited<ReturnType<typeof connectDoipLink>>, request: number[]): Promise<number[]> {
  const response = new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no response to ${request.join(' ')}`)), 5_000);
    const off = link.onResponse((r) => {
      if (r[0] === 0x7f && r[2] === 0x78) return;
      clearTimeout(timer);
      off();
      resolve([...r]);
    });
  });
  await link.send(Uint8Array.from(request));
  return response;
}

describe('ota ecu (child process)', () => {
  const tmp = tempDir('ota-ecu-cli-');
  const caPath = join(tmp.dir, 'ca.pem');
  before(async () => {
    writeFileSync(caPath, (await createCa({ name: 'ECU CLI Test CA' })).certPem);
  });
  after(() => tmp.cleanup());

  it('prints its address, answers routing activation and 22 F1 80, keeps keys out of its log, exits 0 on SIGTERM', async () => {
    const state = join(tmp.dir, 'engine');
    const ecu = run(['ecu', '--doip', '127.0.0.1:0', '--state', state, '--trust', caPath, '--secret', SECRET, '--name', 'engine']);
    let seedHex = '';
    try {
      const m = await ecu.waitFor(/ecu engine listening on doip:\/\/127\.0\.0\.1:(\d+) logical address 0x0010 \(bootloader: no valid application\)\n/);
      const port = Number(m[1]);
      assert.ok(port > 0);
      const link = await connectDoipLink({ host: '127.0.0.1', port, targetAddress: 0x0010 });
      try {
        const bootVersion = await ask(link, [0x22, 0xf1, 0x80]);
        assert.deepEqual(bootVersion.slice(0, 3), [0x62, 0xf1, 0x80]);
        assert.deepEqual((await ask(link, [0x10, 0x03])).slice(0, 2), [0x50, 0x03]);
        const seed = await ask(link, [0x27, 0x01]);
        assert.deepEqual(seed.slice(0, 2), [0x67, 0x01]);
        seedHex = Buffer.from(seed.slice(2)).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
        const wrongKey = new Array<number>(16).fill(0xab);
        assert.deepEqual(await ask(link, [0x27, 0x02, ...wrongKey]), [0x7f, 0x27, 0x35]);
      } finally {
        await link.close();
      }
      await ecu.waitFor(/resp 0x0010 -> 0x0E00 {2}7F 27 35 {2}SecurityAccess NRC 0x35 invalidKey\n/);
      const log = ecu.stdout();
      assert.match(log, /req {2}0x0E00 -> 0x0010 {2}22 F1 80 {2}ReadDataByIdentifier\n/);
      assert.match(log, /resp 0x0010 -> 0x0E00 {2}62 F1 80 .*ReadDataByIdentifier positive response\n/);
      assert.match(log, /req {2}0x0E00 -> 0x0010 {2}27 02 <16 bytes redacted> {2}SecurityAccess\n/);
      // The redaction rule covers the seed too (src/protocol/uds/redact.ts): 67 01 stays, the 16 seed bytes go.
      assert.match(log, /resp 0x0010 -> 0x0E00 {2}67 01 <16 bytes redacted> {2}SecurityAccess positive response\n/);
      assert.doesNotMatch(log, /AB AB AB/, 'a key reached the log');
      assert.ok(seedHex.length === 47 && !log.includes(seedHex), 'the seed reached the log');
      assert.doesNotMatch(log.toLowerCase() + ecu.stderr().toLowerCase(), /00 11 22 33 44 55|00112233445566/, 'the secret reached the log');
      assert.match(ecu.stderr(), /warning: --secret puts the secret on the command line/);
      ecu.child.kill('SIGTERM');
      const { code } = await ecu.exited;
      assert.equal(code, 0, ecu.stderr());
      assert.match(ecu.stdout(), /ecu engine stopped \(SIGTERM\)\n$/);
      assert.ok(existsSync(join(state, 'state.json')) && existsSync(join(state, 'flash.bin')), 'state was created');
    } finally {
      if (ecu.child.exitCode === null) ecu.child.kill('SIGKILL');
    }
  });

  it('keeps the secret off its command line: --secret-file, else its own random secret in <state>/security-secret (0600), named at start', async () => {
    const file = join(tmp.dir, 'engine.secret');
    writeFileSync(file, SECRET + '\n', { mode: 0o600 });
    const given = run(['ecu', '--doip', '127.0.0.1:0', '--state', join(tmp.dir, 'given'), '--trust', caPath, '--secret-file', file]);
    try {
      await given.waitFor(/listening on doip/);
      assert.match(given.stdout(), /ecu engine SecurityAccess secret from --secret-file /);
      const cmdline = readFileSync(`/proc/${given.child.pid}/cmdline`, 'utf8').toLowerCase();
      assert.ok(!cmdline.includes(SECRET.slice(0, 16)), 'the secret is on the command line');
      assert.equal(given.stderr(), '');
    } finally {
      given.child.kill('SIGTERM');
      await given.exited;
    }
    const state = join(tmp.dir, 'own');
    const own = run(['ecu', '--doip', '127.0.0.1:0', '--state', state, '--trust', caPath]);
    try {
      await own.waitFor(/listening on doip/);
      assert.ok(own.stdout().includes(`SecurityAccess secret in ${join(state, 'security-secret')} (made now: random, 0600)`), own.stdout());
      assert.equal(statSync(join(state, 'security-secret')).mode & 0o777, 0o600);
      assert.match(readFileSync(join(state, 'security-secret'), 'utf8'), /^[0-9a-f]{64}\n$/);
      assert.ok(!own.stdout().includes(readFileSync(join(state, 'security-secret'), 'utf8').trim()), 'the secret was printed');
    } finally {
      own.child.kill('SIGTERM');
      await own.exited;
    }
  });

  it('exits 2 on a usage error (a tester address given as the ECU address)', async () => {
    const ecu = run(['ecu', '--state', join(tmp.dir, 'x'), '--trust', caPath, '--address', '0x0E00']);
    const guard = setTimeout(() => ecu.child.kill('SIGKILL'), 20_000);
    const { code } = await ecu.exited;
    clearTimeout(guard);
    assert.equal(code, 2);
    assert.match(ecu.stderr(), /logical address/);
  });

  it('refuses an ECU whose state.json was lost (exit 1, ECU_STATE_MISSING); --reprovision starts it and says so', async () => {
    const state = join(tmp.dir, 'lost-state');
    const first = run(['ecu', '--doip', '127.0.0.1:0', '--state', state, '--trust', caPath, '--secret', SECRET]);
    try {
      await first.waitFor(/listening on doip/);
      first.child.kill('SIGTERM');
      await first.exited;
    } finally {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
    rmSync(join(state, 'state.json'));
    const refused = run(['ecu', '--doip', '127.0.0.1:0', '--state', state, '--trust', caPath, '--secret', SECRET]);
    const guard = setTimeout(() => refused.child.kill('SIGKILL'), 20_000);
    const { code } = await refused.exited;
    clearTimeout(guard);
    assert.equal(code, 1);
    assert.match(refused.stderr(), /error ECU_STATE_MISSING: /);
    assert.equal(existsSync(join(state, 'state.json')), false);
    const again = run(['ecu', '--doip', '127.0.0.1:0', '--state', state, '--trust', caPath, '--secret', SECRET, '--reprovision']);
    try {
      await again.waitFor(/re-provisioned \(state\.json recreated\); rollback floor kept at 0\n/);
      await again.waitFor(/listening on doip/);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });
});
