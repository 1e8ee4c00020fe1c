/**
 * Power loss during programming, with the ECU as a real process (`ota ecu`, flash and state in files):
 * flash over DoIP, SIGKILL the process after about half of the TransferData blocks, start it again on
 * the same state directory. The bootloader must refuse to start the half-written application and say
 * why (DID 0xFD00), and a second full flash must succeed and start the application.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOOT_MODE_CODE, BOOT_REASON, ECU_DID } from '../../src/ecu/server/index.js';
import { connectDoipLink } from '../../src/gateway/links/doip-client.js';
import { UdsClient } from '../../src/gateway/uds/client.js';
import { FlashError, flashEcu } from '../../src/gateway/uds/flash.js';
import { makeApplicationImage, makeReleasePki, roundTripIntelHex, signImage, tempDir, type ReleasePki } from './fixtures.js';
import { ENGINE_ADDRESS, TEST_CLIENT_OPTIONS } from './rigs.js';

const self = fileURLToPath(import.meta.url);
/** The `ota` command itself, run from source (tsx) or from dist (plain node), whichever this test runs from. */
const fromSource = self.endsWith('.ts');
const ENTRY = join(dirname(self), '..', '..', 'src', 'cli', fromSource ? 'main.ts' : 'main.js');
const START_TIMEOUT_MS = 20_000;

interface EcuProcess {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Starts `ota ecu` on an ephemeral DoIP port and resolves once it listens. */
function startEcu(args: { state: string; trust: string; secretHex: string; timing: 'physical' | 'none' }): Promise<EcuProcess> {
  const argv = [...(fromSource ? ['--import', 'tsx'] : []), ENTRY, 'ecu', '--doip', '127.0.0.1:0', '--state', args.state, '--trust', args.trust, '--secret', args.secretHex, '--timing', args.timing];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ota ecu did not start within ${START_TIMEOUT_MS} ms:\n${out}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const m = /listening on doip:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), exited, output: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`ota ecu exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
}

async function connect(port: number): Promise<UdsClient> {
  return new UdsClient(await connectDoipLink({ host: '127.0.0.1', port, targetAddress: ENGINE_ADDRESS }), TEST_CLIENT_OPTIONS);
}

/** Stops a process with `signal` and waits for it to exit. */
async function stop(p: EcuProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await p.exited;
}

describe('power loss during programming (ota ecu as a real process)', () => {
  const tmp = tempDir('power-loss');
  const running = new Set<EcuProcess>();
  let pki: ReleasePki;
  const secret = Uint8Array.from(randomBytes(32));
  const secretHex = Buffer.from(secret).toString('hex');
  let trust: string;

  before(async () => {
    pki = await makeReleasePki();
    trust = join(tmp.dir, 'ca.pem');
    writeFileSync(trust, pki.ca.certPem);
  });

  after(async () => {
    for (const p of running) await stop(p, 'SIGKILL');
    tmp.cleanup();
  });

  async function start(timing: 'physical' | 'none'): Promise<EcuProcess> {
    const p = await startEcu({ state: join(tmp.dir, 'ecu-state'), trust, secretHex, timing });
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  }

  it('keeps the half-written application from starting, says why, and a second flash succeeds', { timeout: 120_000 }, async () => {
    const v1 = roundTripIntelHex(tmp.dir, makeApplicationImage(1), 'v1.hex').image;
    const v2 = roundTripIntelHex(tmp.dir, makeApplicationImage(2), 'v2.hex').image;
    const m1 = signImage(pki, v1, { version: '1.0.0', counter: 1 });
    const m2 = signImage(pki, v2, { version: '2.0.0', counter: 2 });

    // 1. A running application v1 (flashed without the timing model, to be quick).
    let ecu = await start('none');
    let client = await connect(ecu.port);
    assert.equal((await flashEcu(client, { image: v1, signedManifest: m1.signed, secret })).version, '1.0.0');
    await client.close();
    await stop(ecu, 'SIGTERM');

    // 2. Updating to v2 with the physical flash timing; the power goes after about half of the blocks.
    ecu = await start('physical');
    client = await connect(ecu.port);
    assert.deepEqual(await client.readDid(ECU_DID.bootState), Uint8Array.of(BOOT_MODE_CODE.application, BOOT_REASON.applicationStarted));
    let killedAt = -1;
    const killed = ecu;
    const failure = await flashEcu(client, {
      image: v2,
      signedManifest: m2.signed,
      secret,
      onProgress: (phase, done, total) => {
        if (phase === 'programming' && killedAt < 0 && done >= total / 2) {
          killedAt = done;
          // The next block is on its way; a 4 KiB block takes ~107 ms to program (52.5 µs per half-word),
          // so 40 ms later the power goes in the middle of programming it.
          setTimeout(() => killed.child.kill('SIGKILL'), 40);
        }
      },
    }).then(
      () => assert.fail('the flash survived the power loss'),
      (e: unknown) => e,
    );
    assert.ok(failure instanceof FlashError, `expected a FlashError, got ${String(failure)}`);
    assert.equal(failure.phase, 'programming');
    assert.ok(killedAt > 0 && killedAt < v2.data.length);
    assert.equal((await killed.exited).signal, 'SIGKILL');
    await client.close().catch(() => undefined);

    // 3. Power on again from the same state: the bootloader stays, and DID 0xFD00 says why.
    ecu = await start('none');
    client = await connect(ecu.port);
    const bootState = await client.readDid(ECU_DID.bootState);
    assert.equal(bootState[0], BOOT_MODE_CODE.bootloader, 'the half-written application must not start');
    assert.notEqual(bootState[1], BOOT_REASON.applicationStarted);
    // The erase cleared the descriptor before any v2 byte was written.
    assert.equal(bootState[1], BOOT_REASON.noDescriptor);
    assert.match(ecu.output(), /bootloader: no valid application/);

    // 4. A second full flash succeeds and the application runs.
    const result = await flashEcu(client, { image: v2, signedManifest: m2.signed, secret });
    assert.equal(result.version, '2.0.0');
    assert.deepEqual(await result.client.readDid(ECU_DID.bootState), Uint8Array.of(BOOT_MODE_CODE.application, BOOT_REASON.applicationStarted));
    await result.client.close();
    await stop(ecu, 'SIGTERM');
    assert.match(ecu.output(), /stopped \(SIGTERM\)/);
  });
});
