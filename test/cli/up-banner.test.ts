/** `ota up`'s banner and the API token: shown once, at the start that made it, and only on a terminal (src/cli/up.ts). */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUp, type UpOptions } from '../../src/cli/up.js';

/** Runs `ota up` in this process until its banner is printed, then stops it; returns what it printed. */
async function upOnce(dataDir: string, interactive: boolean): Promise<string> {
  const stop = new AbortController();
  let out = '';
  const opts: UpOptions = { vehicles: 0, data: dataDir, host: '127.0.0.1', port: 0, brokerPort: 0, suite: 'aes-256-gcm', interactive, readyTimeoutMs: 5_000 };
  await runUp(
    opts,
    {
      out: (t) => {
        out += t;
        if (t.includes('\nready (')) stop.abort();
      },
    },
    { out: () => undefined },
    stop.signal,
  );
  return out;
}

describe('ota up banner and the API token', { timeout: 120_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-up-banner-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('on a terminal shows the token at the first start only; later starts name its file', async () => {
    const first = await upOnce(dir, true);
    const token = (await readFile(join(dir, 'manager', 'api-token'), 'utf8')).trim();
    assert.ok(first.includes(`/#token=${token}`), first);
    assert.match(first, /the token is shown this once/);
    const second = await upOnce(dir, true);
    assert.ok(!second.includes(token), second);
    assert.ok(second.includes(`sign in with the token in ${join(dir, 'manager', 'api-token')}`), second);
  });
});
