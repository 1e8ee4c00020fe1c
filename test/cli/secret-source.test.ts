/** Where the CLI takes an ECU secret from (src/cli/secret-source.ts): file, environment, then the command line with a warning. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CLI_SECRET_CODES, SECRET_ENV, chooseSecret, promptSecret, resolveSecret, type SecretPromptIo } from '../../src/cli/secret-source.js';

const A = 'aa'.repeat(32);
const B = 'bb'.repeat(16);

describe('chooseSecret', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-secret-source-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers --secret-file, then $OTA_ECU_SECRET, then --secret (with a warning), else undefined', async () => {
    const file = join(dir, 'a.secret');
    await writeFile(file, A + '\n', { mode: 0o600 });
    const warnings: string[] = [];
    const warn = (t: string): void => void warnings.push(t);
    const fromCli = Uint8Array.from(Buffer.from('cc'.repeat(16), 'hex'));
    assert.deepEqual(chooseSecret({ secretFile: file, secret: fromCli }, { [SECRET_ENV]: B }, warn), { secret: Uint8Array.from(Buffer.from(A, 'hex')), source: `--secret-file ${file}` });
    assert.deepEqual(chooseSecret({ secret: fromCli }, { [SECRET_ENV]: B }, warn)?.source, `$${SECRET_ENV}`);
    assert.deepEqual(warnings, []);
    assert.deepEqual(chooseSecret({ secret: fromCli }, {}, warn), { secret: fromCli, source: '--secret' });
    assert.equal(warnings.length, 1);
    assert.match(warnings.join(''), /command line/);
    assert.equal(chooseSecret({}, {}, warn), undefined);
  });

  it('warns about a secret file others can read, and refuses a missing or malformed one with CLI_SECRET_FILE', async () => {
    const loose = join(dir, 'loose.secret');
    await writeFile(loose, A, { mode: 0o644 });
    const warnings: string[] = [];
    assert.ok(chooseSecret({ secretFile: loose }, {}, (t) => void warnings.push(t)));
    assert.match(warnings.join(''), /readable by other users/);
    const bad = join(dir, 'bad.secret');
    await writeFile(bad, 'abc', { mode: 0o600 });
    assert.throws(() => chooseSecret({ secretFile: bad }, {}, () => undefined), { code: CLI_SECRET_CODES.file });
    assert.throws(() => chooseSecret({ secretFile: join(dir, 'missing') }, {}, () => undefined), { code: CLI_SECRET_CODES.file });
    const short = join(dir, 'short.secret');
    await writeFile(short, 'aa'.repeat(15), { mode: 0o600 });
    assert.throws(() => chooseSecret({ secretFile: short }, {}, () => undefined), { code: CLI_SECRET_CODES.file });
  });

  it('refuses a malformed $OTA_ECU_SECRET with CLI_SECRET_ENV', () => {
    assert.throws(() => chooseSecret({}, { [SECRET_ENV]: 'zz' }, () => undefined), { code: CLI_SECRET_CODES.env });
  });
});

describe('promptSecret', () => {
  /** A fake terminal: a stream that records raw mode, and what the prompt wrote. */
  const terminal = (): { io: SecretPromptIo; input: PassThrough; written: string[]; raw: boolean[] } => {
    const input = new PassThrough();
    const raw: boolean[] = [];
    const written: string[] = [];
    const tty = Object.assign(input, { isTTY: true, setRawMode: (m: boolean) => raw.push(m) });
    return { io: { input: tty, output: { write: (t: string) => written.push(t) } }, input, written, raw };
  };

  it('reads the hex typed without echoing it (raw mode on, then off), Backspace edits', async () => {
    const t = terminal();
    const answer = promptSecret(t.io);
    t.input.write('aa'.repeat(16) + 'x\u007f');
    t.input.write('\r');
    assert.deepEqual(await answer, Uint8Array.from(Buffer.from('aa'.repeat(16), 'hex')));
    assert.deepEqual(t.raw, [true, false]);
    assert.ok(!t.written.join('').includes('aaaa'), 'the secret was echoed');
  });

  it('gives up on Ctrl-C, and refuses what is not 16-64 bytes of hex, with CLI_SECRET_PROMPT', async () => {
    const a = terminal();
    const cancelled = promptSecret(a.io);
    a.input.write('ab\u0003');
    await assert.rejects(cancelled, { code: CLI_SECRET_CODES.prompt });
    const b = terminal();
    const short = promptSecret(b.io);
    b.input.write('abcd\n');
    await assert.rejects(short, { code: CLI_SECRET_CODES.prompt });
    assert.deepEqual(b.raw, [true, false]);
  });

  it('resolveSecret asks on a terminal for --secret-file -', async () => {
    const t = terminal();
    const chosen = resolveSecret({ secretFile: '-' }, {}, () => undefined, t.io);
    t.input.write('bb'.repeat(16) + '\n');
    assert.deepEqual(await chosen, { secret: Uint8Array.from(Buffer.from('bb'.repeat(16), 'hex')), source: 'the terminal' });
  });
});
