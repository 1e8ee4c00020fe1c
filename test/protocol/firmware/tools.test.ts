// Interoperability with the reference tools: srecord's srec_cat and binutils' objcopy read what we
// write, and we read what they write. Each part is skipped when its tool is not installed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  memoryMapFromSegments,
  parseIntelHex,
  parseSrec,
  toBinary,
  writeIntelHex,
  writeSrec,
} from '../../../src/protocol/firmware/index.js';
import { pseudoRandomBytes } from './helpers.js';

function hasTool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

const run = (tool: string, args: string[]): string =>
  execFileSync(tool, args, { timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString('latin1');

// A sparse image across a 64 KiB boundary with a gap, as an application plus a config block.
const BASE = 0x0800_2000;
const map = memoryMapFromSegments([
  { address: BASE, data: pseudoRandomBytes(0xe000 - 0x100, 3) },
  { address: 0x0801_0000 - 0x40, data: pseudoRandomBytes(0x50, 4) },
]);
const START = BASE + 0x1d5;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ota-fw-tools-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('srec_cat (srecord)', { skip: !hasTool('srec_cat') && 'srec_cat not installed' }, () => {
  for (const [format, text, flag] of [
    ['S-records', writeSrec(map, { header: 'ota', startAddress: START }), []],
    ['S-records with S1 width', writeSrec(memoryMapFromSegments([{ address: 0x100, data: pseudoRandomBytes(90) }]), { addressBytes: 2 }), []],
    ['Intel HEX', writeIntelHex(map, { startAddress: START }), ['-intel']],
  ] as const) {
    it(`reads our ${format} as the same bytes`, () => {
      const input = join(dir, 'in.txt');
      writeFileSync(input, text);
      const output = join(dir, 'out.bin');
      const parsed = format === 'Intel HEX' ? parseIntelHex(text).map : parseSrec(text).map;
      const first = parsed[0]?.address ?? 0;
      // (input filled with 0xFF over its own extent), moved to offset 0, as raw binary
      run('srec_cat', ['(', input, ...flag, '-fill', '0xFF', '-over', input, ...flag, ')', '-offset', `-${first}`, '-o', output, '-binary']);
      assert.deepEqual(new Uint8Array(readFileSync(output)), toBinary(parsed));
    });
  }

  it('writes Intel HEX and S-records (S0 header, S5, S7) that we read as the same image', () => {
    const input = join(dir, 'image.srec');
    writeFileSync(input, writeSrec(map, { header: 'ota', startAddress: START }));
    const hex = run('srec_cat', [input, '-o', '-', '-intel']);
    assert.deepEqual(parseIntelHex(hex), { map, startAddress: START });
    const srec = run('srec_cat', [input, '-o', '-']);
    assert.deepEqual(parseSrec(srec), { map, header: 'ota', startAddress: START });
  });
});

describe('objcopy (binutils)', { skip: !hasTool('objcopy') && 'objcopy not installed' }, () => {
  for (const [format, text, bfd] of [
    ['S-records', writeSrec(map, { startAddress: START }), 'srec'],
    ['Intel HEX', writeIntelHex(map, { startAddress: START }), 'ihex'],
  ] as const) {
    it(`converts our ${format} to the same raw binary`, () => {
      const input = join(dir, `in.${bfd}`);
      const output = join(dir, `out-${bfd}.bin`);
      writeFileSync(input, text);
      run('objcopy', ['-I', bfd, '-O', 'binary', '--gap-fill', '0xFF', input, output]);
      assert.deepEqual(new Uint8Array(readFileSync(output)), toBinary(map));
    });
  }

  it('writes Intel HEX and S-records that we read as the same image', () => {
    const input = join(dir, 'raw.bin');
    writeFileSync(input, toBinary(map));
    for (const bfd of ['ihex', 'srec'] as const) {
      const output = join(dir, `objcopy.${bfd}`);
      run('objcopy', ['-I', 'binary', '-O', bfd, '--change-addresses', `0x${BASE.toString(16)}`, input, output]);
      const text = readFileSync(output, 'latin1');
      const parsed = bfd === 'ihex' ? parseIntelHex(text) : parseSrec(text);
      assert.deepEqual(parsed.map, [{ address: BASE, data: toBinary(map) }], bfd);
    }
  });
});
