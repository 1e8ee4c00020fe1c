// How `ota flash` shows a job: one line per phase change off a terminal (skipped phases included, in
// order), a cli-progress bar per phase on one; and `ota jobs` tables.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, it } from 'node:test';
import { jobDetails, jobStatus, jobsTable } from '../../src/cli/jobs.js';
import { BarProgress, heldBytes, LineProgress, phaseDetail, phasesBetween, type ProgressView } from '../../src/cli/update/progress.js';
import type { Job } from '../../src/manager/index.js';

function job(over: Partial<Job> = {}): Job {
  return {
    id: '0123456789abcdef',
    vehicleId: 'ZZSVECU15SA000001',
    ecu: 'engine',
    firmwareId: 'ed9942e962e39e21',
    state: 'active',
    phase: 'queued',
    percent: 0,
    reason: null,
    fromVersion: '1.0.0-factory',
    toVersion: '1.1.0',
    installedVersion: null,
    nonce: '00'.repeat(16),
    expiresAt: '2030-01-01T00:00:00.000Z',
    chunkSize: 512,
    chunks: 112,
    imageLength: 57_344,
    bytesSent: 0,
    chunksSent: 0,
    offers: 1,
    createdBy: 'api:cli',
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    finishedAt: null,
    transfer: null,
    ...over,
  };
}

describe('phasesBetween', () => {
  it('lists the phases a poll skipped, in order, then the new one', () => {
    assert.deepEqual(phasesBetween('downloading', 'programming'), ['verifying', 'erasing', 'programming']);
    assert.deepEqual(phasesBetween(undefined, 'erasing'), ['erasing']);
    assert.deepEqual(phasesBetween('queued', 'downloading'), ['downloading']);
  });

  it('gives just the new phase when a job goes back (a flash resumed after a gateway restart erases again)', () => {
    assert.deepEqual(phasesBetween('programming', 'erasing'), ['erasing']);
    assert.deepEqual(phasesBetween('programming', 'downloading'), ['downloading']);
  });

  it('gives nothing for a final phase (the outcome line says it)', () => {
    assert.deepEqual(phasesBetween('rebooting', 'done'), []);
  });
});

describe('LineProgress', () => {
  it('prints one line per phase change, the skipped phases included, nothing for repeated polls', () => {
    const lines: string[] = [];
    const view: ProgressView = new LineProgress((t) => lines.push(t));
    view.update(job());
    view.update(job({ phase: 'downloading', percent: 10, transfer: { stage: 'streaming', heldChunks: 11, inFlight: 32, window: 32 } }));
    view.update(job({ phase: 'downloading', percent: 60 }));
    view.update(job({ phase: 'programming', percent: 40 }));
    view.update(job({ phase: 'rebooting' }));
    view.update(job({ state: 'done', phase: 'done', percent: 100 }));
    view.stop('done');
    const phases = lines.map((l) => /^\[\s*\d+\.\ds\] (\w+)/.exec(l)?.[1]);
    assert.deepEqual(phases, ['queued', 'downloading', 'verifying', 'erasing', 'programming', 'checking', 'rebooting']);
    assert.match(lines[1] ?? '', /downloading 57344 bytes \(112 chunks of 512 B\)/);
    assert.match(lines[6] ?? '', /rebooting \(expecting 1\.1\.0\)/);
    assert.ok(lines.every((l) => l.endsWith('\n') && l.split('\n').length === 2));
  });

  it('shows the phases a fast job went through when the first poll after the download already sees it done', () => {
    const lines: string[] = [];
    const view: ProgressView = new LineProgress((t) => lines.push(t));
    view.update(job({ phase: 'downloading', percent: 5 }));
    view.update(job({ state: 'done', phase: 'done', percent: 100 }));
    assert.deepEqual(
      lines.map((l) => /^\[\s*\d+\.\ds\] (\w+)/.exec(l)?.[1]),
      ['downloading', 'verifying', 'erasing', 'programming', 'checking', 'rebooting'],
    );
  });
});

describe('heldBytes and phaseDetail', () => {
  it('count the bytes the gateway holds from its chunks, capped at the image length', () => {
    assert.equal(heldBytes(job({ phase: 'downloading', transfer: { stage: 'streaming', heldChunks: 56, inFlight: 0, window: 32 } })), 28_672);
    assert.equal(heldBytes(job({ phase: 'downloading', transfer: { stage: 'downloaded', heldChunks: 112, inFlight: 0, window: 32 }, chunkSize: 1024 })), 57_344);
    assert.equal(heldBytes(job({ phase: 'downloading', percent: 50 })), 28_672);
    assert.equal(heldBytes(job({ phase: 'programming' })), 57_344);
    assert.equal(phaseDetail(job({ phase: 'downloading', percent: 50 })), '28.0/56.0 KiB');
  });
});

describe('BarProgress', () => {
  it('draws a bar per phase on a terminal stream and completes the bars of finished phases', () => {
    let written = '';
    const tty = Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          written += chunk.toString('utf8');
          cb();
        },
      }),
      { isTTY: true, columns: 120 },
    );
    const view = new BarProgress(tty);
    view.update(job({ phase: 'downloading', percent: 30 }));
    view.update(job({ phase: 'programming', percent: 50 }));
    view.update(job({ phase: 'programming', percent: 80 }));
    view.stop('done');
    const text = stripVTControlCharacters(written);
    for (const label of ['downloading', 'verifying', 'erasing', 'programming']) assert.ok(text.includes(label), `${label} bar drawn:\n${text}`);
    assert.match(text, /programming\s+\[[^\]]+\] 100%/, 'the last bar completed on done');
  });
});

describe('ota jobs tables', () => {
  it('show status, versions and bytes sent', () => {
    const failed = job({ state: 'failed', phase: 'failed', reason: { code: 'FW_ROLLBACK', message: 'counter' } });
    assert.equal(jobStatus(failed), 'failed FW_ROLLBACK');
    assert.equal(jobStatus(job({ phase: 'programming', percent: 42 })), 'programming 42%');
    assert.equal(jobStatus(job()), 'queued');
    const t = jobsTable([failed, job({ state: 'done', phase: 'done', bytesSent: 57_344 })]);
    assert.match(t, /^JOB\s+VEHICLE\s+ECU\s+FROM\s+TO\s+STATUS\s+SENT\s+CREATED$/m);
    assert.match(t, /failed FW_ROLLBACK\s+0\/57344/);
    assert.match(t, /\n2 jobs$/);
    const d = jobDetails(failed);
    assert.match(d, /^reason\s+FW_ROLLBACK: counter$/m);
    assert.match(d, /^versions\s+1\.0\.0-factory → 1\.1\.0$/m);
  });
});
