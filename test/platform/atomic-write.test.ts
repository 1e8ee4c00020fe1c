import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createFileExclusiveSync, nodeAtomicWriteFs, writeFileAtomic, writeFileAtomicSync, type AtomicWriteFs } from '../../src/platform/atomic-write.js';

const root = mkdtempSync(join(tmpdir(), 'ota-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The real calls, recorded in order; `fail` makes one of them throw (once) with an errno code. */
function recordingFs(fail?: { call: keyof AtomicWriteFs; code: string }): { fs: AtomicWriteFs; calls: string[] } {
  const calls: string[] = [];
  const fds = new Map<number, string>();
  let armed = fail !== undefined;
  const maybeFail = (call: keyof AtomicWriteFs): void => {
    if (armed && fail?.call === call) {
      armed = false;
      throw Object.assign(new Error(`${fail.code}: injected`), { code: fail.code });
    }
  };
  const fs: AtomicWriteFs = {
    openSync: (p, f, m) => {
      maybeFail('openSync');
      const fd = nodeAtomicWriteFs.openSync(p, f, m);
      fds.set(fd, p);
      calls.push(`open ${p}`);
      return fd;
    },
    writeSync: (fd, d, o, l) => {
      maybeFail('writeSync');
      calls.push(`write ${fds.get(fd)}`);
      return nodeAtomicWriteFs.writeSync(fd, d, o, l);
    },
    fsyncSync: (fd) => {
      maybeFail('fsyncSync');
      calls.push(`fsync ${fds.get(fd)}`);
      nodeAtomicWriteFs.fsyncSync(fd);
    },
    closeSync: (fd) => nodeAtomicWriteFs.closeSync(fd),
    renameSync: (a, b) => {
      maybeFail('renameSync');
      calls.push(`rename ${a} ${b}`);
      nodeAtomicWriteFs.renameSync(a, b);
    },
    rmSync: (p, o) => nodeAtomicWriteFs.rmSync(p, o),
  };
  return { fs, calls };
}

describe('writeFileAtomicSync', () => {
  it('writes the temp file, fsyncs it, renames it, then fsyncs the directory (durable by default)', () => {
    const path = join(root, 'a.json');
    const { fs, calls } = recordingFs();
    writeFileAtomicSync(path, '{"v":1}\n', {}, fs);
    assert.equal(readFileSync(path, 'utf8'), '{"v":1}\n');
    const tmp = `${path}.tmp`;
    assert.deepEqual(calls, [`open ${tmp}`, `write ${tmp}`, `fsync ${tmp}`, `rename ${tmp} ${path}`, `open ${dirname(path)}`, `fsync ${dirname(path)}`]);
  });

  it('syncs nothing when not durable, and still replaces atomically', () => {
    const path = join(root, 'b.bin');
    const { fs, calls } = recordingFs();
    writeFileAtomicSync(path, Uint8Array.of(1, 2, 3), { durable: false }, fs);
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    assert.equal(calls.filter((c) => c.startsWith('fsync')).length, 0);
  });

  it('when the disk is full: throws the ENOSPC, keeps the old content and leaves no temp file', () => {
    const path = join(root, 'c.json');
    writeFileAtomicSync(path, 'old');
    const { fs } = recordingFs({ call: 'writeSync', code: 'ENOSPC' });
    assert.throws(() => writeFileAtomicSync(path, 'new', {}, fs), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    assert.equal(readFileSync(path, 'utf8'), 'old');
    assert.equal(existsSync(`${path}.tmp`), false);
  });

  it('creates the file with mode 0600 unless told otherwise', { skip: process.platform === 'win32' }, () => {
    const path = join(root, 'd.key');
    writeFileAtomicSync(path, 'secret');
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });
});

describe('writeFileAtomic (asynchronous)', () => {
  it('replaces the file with the exact mode and leaves no temp file behind', async () => {
    const dir = mkdtempSync(join(root, 'async-'));
    const path = join(dir, 'e.pem');
    await writeFileAtomic(path, 'one', { mode: 0o644 });
    await Promise.all([writeFileAtomic(path, 'two', { mode: 0o644 }), writeFileAtomic(path, 'two', { mode: 0o644 })]);
    assert.equal(readFileSync(path, 'utf8'), 'two');
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(dir), ['e.pem']);
  });
});

describe('createFileExclusiveSync', () => {
  it('creates a missing file whole, 0600, and leaves no temporary file', () => {
    const dir = mkdtempSync(join(root, 'excl-'));
    const path = join(dir, 'secret');
    assert.equal(createFileExclusiveSync(path, 'first\n'), true);
    assert.equal(readFileSync(path, 'utf8'), 'first\n');
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['secret']);
  });

  it('when the file exists (another writer was first) answers false and never overwrites it', () => {
    const dir = mkdtempSync(join(root, 'excl-'));
    const path = join(dir, 'secret');
    createFileExclusiveSync(path, 'first\n');
    assert.equal(createFileExclusiveSync(path, 'second\n'), false);
    assert.equal(readFileSync(path, 'utf8'), 'first\n');
    assert.deepEqual(readdirSync(dir), ['secret']);
  });
});
