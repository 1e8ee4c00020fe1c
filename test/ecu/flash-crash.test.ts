// Crash consistency: a real child process reprogramming the application is SIGKILLed mid-programming
// (a power loss). On reopen the flash holds exactly what was programmed before the kill, the rest of
// the image range is erased, and the bootloader finds no valid application.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openNvm } from '../../src/ecu/nvm.js';
import { pseudoRandomBytes, tempDir } from './helpers.js';

const APP = 0x0800_2000;
const LENGTH = 2048; // two 1 KiB pages; at 1 ms per half-word the child needs ≈ 1 s to program them
const KILL_AFTER = 512;
const here = dirname(fileURLToPath(import.meta.url));

/** The fixture command: the compiled .js next to a compiled test, else the .ts source through tsx. */
function fixtureCommand(args: string[]): { cmd: string; args: string[]; cwd: string } {
  const compiled = join(here, 'fixtures', 'reflash.js');
  if (import.meta.url.endsWith('.js') && existsSync(compiled)) return { cmd: process.execPath, args: [compiled, ...args], cwd: here };
  return { cmd: process.execPath, args: ['--import', 'tsx', join(here, 'fixtures', 'reflash.ts'), ...args], cwd: join(here, '..', '..') };
}

/** Runs the child and SIGKILLs it once it reports `KILL_AFTER` programmed bytes. */
function runAndKill(dir: string, imagePath: string): Promise<{ signal: string | null; lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const { cmd, args, cwd } = fixtureCommand([dir, imagePath]);
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    let buffered = '';
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not reach ${KILL_AFTER} bytes in time: ${lines.join('|')} ${stderr}`));
    }, 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const m = /^programmed (\d+)$/.exec(line);
        if (m !== null && Number(m[1]) >= KILL_AFTER) child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(guard);
      resolve({ signal, lines, stderr });
    });
  });
}

describe('flash crash consistency', () => {
  it('SIGKILL mid-programming leaves a half-written image and no valid application', { timeout: 90_000 }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Release 1 installed and valid.
      const old = pseudoRandomBytes(LENGTH, 11);
      const nvm = openNvm(dir);
      nvm.flash.program(APP, old);
      nvm.application.install({
        start: APP, length: LENGTH, sha256: createHash('sha256').update(old).digest('hex'),
        version: '1.0.0', counter: 1, hardwareId: 'stm32f103c8',
      });
      assert.equal(nvm.applicationStatus().valid, true);
      nvm.close();

      // Release 2 being flashed when the power goes (no 0xFF bytes, so the written prefix is exact).
      const next = pseudoRandomBytes(LENGTH, 22);
      const imagePath = join(dir, 'next.bin');
      writeFileSync(imagePath, next);
      const { signal, lines, stderr } = await runAndKill(dir, imagePath);
      assert.equal(signal, 'SIGKILL', `child ended by itself: ${stderr}`);
      assert.ok(lines.includes('erased'));
      assert.ok(!lines.includes('done'));

      const after = openNvm(dir);
      const region = after.flash.read(APP, LENGTH);
      let written = 0;
      while (written < LENGTH && region[written] === next[written]) written++;
      assert.ok(written >= KILL_AFTER && written < LENGTH, `${written} bytes written`);
      assert.equal(written % 2, 0); // whole half-words only
      assert.ok(after.flash.isErased(APP + written, LENGTH - written), 'the rest of the range reads erased');
      assert.deepEqual(after.applicationStatus(), { valid: false, reason: 'NO_DESCRIPTOR' });
      assert.equal(after.application.installedCounter(), 1); // rollback floor survives the failed flash
      assert.deepEqual([after.flash.eraseCount(APP), after.flash.eraseCount(APP + 1024)], [1, 1]);
      after.close();
    } finally {
      cleanup();
    }
  });
});
