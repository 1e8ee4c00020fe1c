/**
 * The process-level guard of the long-running commands (src/cli/guard.ts), in real child processes: it
 * logs an unhandled rejection and keeps serving; under tests (NODE_TEST_CONTEXT) or with
 * OTA_STRICT_REJECTIONS=1 it exits 70 instead, so a test never mistakes a bug for a quiet process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/ota-cli.js';

const guard = pathToFileURL(join(repoRoot, 'src', 'cli', 'guard.ts')).href;
const log = pathToFileURL(join(repoRoot, 'src', 'manager', 'log.ts')).href;

/** A process with the guard that rejects a promise nobody handles, then keeps a timer running for a while. */
function run(env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const script = `
    const { installRejectionGuard, unhandledRejections } = await import(${JSON.stringify(guard)});
    const { stderrLog } = await import(${JSON.stringify(log)});
    installRejectionGuard(stderrLog('warn'));
    void Promise.reject(Object.assign(new Error('lost request'), { code: 'DIAG_TIMEOUT' }));
    setTimeout(() => { process.stdout.write('still serving ' + unhandledRejections() + '\\n'); }, 200);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('installRejectionGuard', () => {
  it('outside tests: logs the rejection (code and message) and keeps serving', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, OTA_STRICT_REJECTIONS: '0' };
    delete env['NODE_TEST_CONTEXT'];
    const r = run(env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'still serving 1\n');
    const line = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    assert.deepEqual([line['event'], line['code'], line['message'], line['exiting']], ['process.unhandled_rejection', 'DIAG_TIMEOUT', 'lost request', false]);
  });

  it('under the test runner (NODE_TEST_CONTEXT, inherited by spawned processes): exits 70 after logging', () => {
    assert.ok(process.env['NODE_TEST_CONTEXT'] !== undefined, 'this test runs under node --test');
    const env = { ...process.env };
    delete env['OTA_STRICT_REJECTIONS'];
    const r = run(env);
    assert.equal(r.status, 70);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /"event":"process.unhandled_rejection".*"exiting":true/);
  });

  it('with OTA_STRICT_REJECTIONS=1 outside tests: exits 70', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, OTA_STRICT_REJECTIONS: '1' };
    delete env['NODE_TEST_CONTEXT'];
    assert.equal(run(env).status, 70);
  });
});
