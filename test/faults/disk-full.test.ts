/**
 * A full disk under the manager (issue 10 §3), with real processes: `<data>/manager` is a 4 MiB tmpfs
 * (root only: skipped where mounting is not allowed). With the disk filled, diagnostic requests go on;
 * an answer is never returned without its row, `GET /diag-log` never answers stale, and after kill -9 of
 * the manager *while the disk is full* every request answered with 200 is in ota.db.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Api, codeOf, Rig, until } from './harness.js';

function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0;
}

/** Write zeros to `file` until the file system is full. */
async function fill(file: string): Promise<number> {
  const fh = await open(file, 'w');
  const block = Buffer.alloc(16 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += (await fh.write(block)).bytesWritten;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return written;
        throw e;
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

describe('manager on a full disk', { timeout: 115_000 }, () => {
  let rig: Rig | undefined;
  let mounted: string | undefined;
  after(async () => {
    await rig?.killAll();
    if (mounted) spawnSync('umount', [mounted]);
    await rig?.stopAll();
  });

  it('never answers without its row, never reads stale, and loses no answered request to kill -9 while full', { timeout: 110_000 }, async (t) => {
    rig = await Rig.create(1);
    const managerDir = join(rig.dataDir, 'manager');
    await mkdir(managerDir, { recursive: true });
    if (!mountTmpfs(managerDir, '4m')) {
      t.skip('mounting a tmpfs is not allowed here (not root, or no CAP_SYS_ADMIN)');
      return;
    }
    mounted = managerDir;
    const [A] = rig.vehicles as [string];
    const broker = await rig.broker();
    const manager = await rig.manager(broker.url);
    await rig.vehicle(A, broker.url);
    const api = new Api(manager.api, manager.token);
    try {
      await until('A reachable', async () => (await api.diag(A, 2000)).status === 200, 30_000);
      const filler = join(managerDir, 'filler');
      await fill(filler);
      const answers: Array<Awaited<ReturnType<Api['call']>>> = [];
      const staleReads: string[] = [];
      for (let round = 0; round < 10; round++) {
        answers.push(...(await Promise.all(Array.from({ length: 30 }, () => api.diag(A, 2000)))));
        const okIds = answers.filter((r) => r.status === 200).map((r) => r.body['logId'] as number);
        const log = await api.call('GET', '/diag-log?limit=1000');
        if (log.status === 200) {
          const listed = new Set((log.body['entries'] as Array<{ id: number }>).map((e) => e.id));
          const missing = okIds.filter((id) => !listed.has(id));
          if (missing.length > 0) staleReads.push(`round ${round}: ${missing.length} answered rows not listed`);
        } else {
          assert.equal(codeOf(log), 'MGR_LOG_UNAVAILABLE');
        }
      }
      assert.deepEqual(staleReads, []);
      const codes = new Set(answers.map((r) => codeOf(r) ?? 'OK'));
      const tally: Record<string, number> = {};
      for (const r of answers) tally[codeOf(r) ?? 'OK'] = (tally[codeOf(r) ?? 'OK'] ?? 0) + 1;
      for (const c of codes) assert.ok(['OK', 'MGR_LOG_FAILED', 'MGR_LOG_UNAVAILABLE', 'DIAG_TIMEOUT', 'UDS_TIMEOUT', 'GW_BUSY'].includes(c), `unexpected ${c}`);
      // kill -9 while the disk is still full, then free it and read the file.
      manager.proc.child.kill('SIGKILL');
      await manager.proc.exited;
      await rm(filler);
      const ids = new Set(rig.diagRows().map((r) => r.id));
      const ok = answers.filter((r) => r.status === 200);
      const lost = ok.filter((r) => !ids.has(r.body['logId'] as number));
      t.diagnostic(`answers: ${JSON.stringify(tally)}`);
      assert.equal(lost.length, 0, `${lost.length} of ${ok.length} answered requests lost (${[...codes].join(', ')})`);
    } finally {
      api.close();
    }
  });
});
