// watchJob (what `ota flash` follows a job with) against a real HTTP server on 127.0.0.1 standing in for
// the manager's GET /jobs/:id: it waits out a manager that went away and finds it again on another port.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/api-client.js';
import { watchJob } from '../../src/cli/update/watch.js';
import type { Job } from '../../src/manager/index.js';

const JOB_ID = '0123456789abcdef';

/** A stand-in manager answering GET /api/v1/jobs/:id from `answer(n)` (n = requests so far). */
async function fakeManager(answer: (n: number) => { status: number; body: unknown }): Promise<{ server: Server; url: string; requests: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    const a = req.url === `/api/v1/jobs/${JOB_ID}` ? answer(n++) : { status: 404, body: { error: { code: 'JOB_UNKNOWN', message: 'no such job' } } };
    res.writeHead(a.status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => n };
}

const close = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));
const client = (api: string): ApiClient => new ApiClient({ api, token: 't', dataDir: '/nonexistent' });
const jobIn = (phase: Job['phase'], state: Job['state'] = 'active'): Partial<Job> => ({ id: JOB_ID, phase, state, percent: state === 'done' ? 100 : 10 });

describe('watchJob', () => {
  it('follows the job to its end, passing every polled state on', async () => {
    const phases: Array<Job['phase']> = ['downloading', 'programming', 'done'];
    const m = await fakeManager((n) => ({ status: 200, body: jobIn(phases[Math.min(n, 2)] as Job['phase'], n >= 2 ? 'done' : 'active') }));
    try {
      const seen: string[] = [];
      const final = await watchJob({ client: client(m.url), jobId: JOB_ID, intervalMs: 5, onJob: (j) => seen.push(j.phase) });
      assert.equal(final.state, 'done');
      assert.deepEqual(seen, phases);
    } finally {
      await close(m.server);
    }
  });

  it('waits for a manager that went away and finds it again on another port (a restart), saying so once each way', async () => {
    const first = await fakeManager(() => ({ status: 200, body: jobIn('downloading') }));
    const firstUrl = first.url;
    let second: Awaited<ReturnType<typeof fakeManager>> | undefined;
    const events: string[] = [];
    let polls = 0;
    try {
      const final = await watchJob({
        client: client(firstUrl),
        jobId: JOB_ID,
        intervalMs: 5,
        onJob: () => {
          // After two answers the manager stops; a new one comes up after a few failed polls.
          if (++polls === 2) void close(first.server);
        },
        onManager: (state, e) => events.push(`${state}${e ? ` ${e.code}` : ''}`),
        reopen: async () => {
          if (second === undefined && events.length > 0) second = await fakeManager(() => ({ status: 200, body: jobIn('done', 'done') }));
          return client(second?.url ?? firstUrl);
        },
      });
      assert.equal(final.state, 'done');
      assert.equal(events.length, 2);
      assert.match(events[0] ?? '', /^lost MANAGER_(NOT_RUNNING|CONNECTION_LOST)$/);
      assert.equal(events[1], 'back');
    } finally {
      await close(first.server).catch(() => undefined);
      if (second) await close(second.server);
    }
  });

  it('gives up after managerGraceMs without a manager, with the last error', async () => {
    const m = await fakeManager(() => ({ status: 200, body: jobIn('downloading') }));
    const url = m.url;
    await close(m.server);
    await assert.rejects(watchJob({ client: client(url), jobId: JOB_ID, intervalMs: 5, managerGraceMs: 50, onJob: () => undefined, reopen: () => Promise.resolve(client(url)) }), { code: 'MANAGER_NOT_RUNNING' });
  });

  it('rejects at once with the API code of a refusal that waiting cannot fix (JOB_UNKNOWN)', async () => {
    const m = await fakeManager(() => ({ status: 404, body: { error: { code: 'JOB_UNKNOWN', message: 'no job' } } }));
    try {
      await assert.rejects(watchJob({ client: client(m.url), jobId: JOB_ID, intervalMs: 5, onJob: () => undefined }), { code: 'JOB_UNKNOWN' });
      assert.equal(m.requests(), 1);
    } finally {
      await close(m.server);
    }
  });

  it('stops with WATCH_ABORTED when its signal aborts (the job goes on)', async () => {
    const m = await fakeManager(() => ({ status: 200, body: jobIn('downloading') }));
    const stop = new AbortController();
    try {
      const watching = watchJob({ client: client(m.url), jobId: JOB_ID, intervalMs: 1000, signal: stop.signal, onJob: () => stop.abort() });
      await assert.rejects(watching, { code: 'WATCH_ABORTED' });
    } finally {
      await close(m.server);
    }
  });
});
