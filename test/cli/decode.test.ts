import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseDidLength } from '../../src/cli/decode.js';
import { runOta } from '../helpers/ota-cli.js';

function decode(...args: string[]): { status: number | null; json: unknown; stderr: string } {
  const r = runOta(['decode', ...args]);
  return { status: r.status, json: r.status === 0 ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}

describe('parseDidLength (--did-length)', () => {
  it('reads DID=bytes with the DID in hex (0x optional) and adds to the lengths before', () => {
    const first = parseDidLength('F189=8');
    assert.deepEqual([...parseDidLength('0x0100=2', first)], [[0xf189, 8], [0x0100, 2]]);
    assert.deepEqual([...first], [[0xf189, 8]], 'the earlier map is not changed');
  });

  for (const bad of ['F189', 'F189=0', 'F189=4093', 'F1890=2', 'G189=2', 'F189=-1', '=3', 'F189=2x']) {
    it(`refuses ${JSON.stringify(bad)} as a usage error`, () => {
      assert.throws(() => parseDidLength(bad), InvalidArgumentError);
    });
  }
});

describe('ota decode (real process)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ota-decode-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the service, sub-function, DTC and status bits of 59 02 FF 01 00 00 2F', () => {
    const { status, json } = decode('uds', '59', '02', 'FF', '01', '00', '00', '2F');
    assert.equal(status, 0);
    const r = json as { service: string; subFunction: string; dtcs: Array<{ dtc: string; statusBits: string[] }> };
    assert.equal(r.service, 'ReadDTCInformation');
    assert.equal(r.subFunction, 'reportDTCByStatusMask');
    assert.equal(r.dtcs[0]?.dtc, 'P0100-00');
    assert.deepEqual(r.dtcs[0]?.statusBits, ['testFailed', 'testFailedThisOperationCycle', 'pendingDTC', 'confirmedDTC', 'testFailedSinceLastClear']);
  });

  it('names NRC 0x73 of 7F 36 73 wrongBlockSequenceCounter', () => {
    const { status, json } = decode('uds', '7F 36 73');
    assert.equal(status, 0);
    assert.equal((json as { nrcName: string }).nrcName, 'wrongBlockSequenceCounter');
  });

  it('accepts hex with 0x prefixes and --pretty', () => {
    const r = runOta(['decode', 'uds', '0x22 0xF1 0x90', '--pretty']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /\n {2}"service": "ReadDataByIdentifier"/);
  });

  it('decodes a DoIP routing activation request', () => {
    const { status, json } = decode('doip', '02 FD 00 05 00 00 00 07 0E 00 00 00 00 00 00');
    assert.equal(status, 0);
    assert.equal((json as { type: string }).type, 'routingActivationRequest');
  });

  it('reassembles ISO-TP frames separated by |', () => {
    const { status, json } = decode('isotp', '10 0B 62 F1 90 57 30 4C | 30 00 00 | 21 30 30 30 30 34 33');
    assert.equal(status, 0);
    assert.equal((json as { message: { complete: boolean; length: number } }).message.length, 11);
  });

  it('reads an Intel HEX file and an S-record file', () => {
    const hex = join(dir, 'a.hex');
    writeFileSync(hex, ':020000040800F2\n:100000000102030405060708090A0B0C0D0E0F1068\n:00000001FF\n');
    const ih = decode('ihex', hex);
    assert.equal(ih.status, 0, ih.stderr);
    assert.equal((ih.json as { totalBytes: number }).totalBytes, 16);
    const s19 = join(dir, 'a.s19');
    writeFileSync(s19, 'S1130000285F245F2212226A000424290008237C2A\nS9030000FC\n');
    const sr = decode('srec', s19);
    assert.equal(sr.status, 0, sr.stderr);
    assert.equal((sr.json as { totalBytes: number }).totalBytes, 16);
  });

  const malformed: Array<[string, string[], string]> = [
    ['a truncated negative response', ['uds', '7F 36'], 'UDS_LENGTH'],
    ['an odd number of hex digits', ['uds', '22 F1 9'], 'HEX_INVALID'],
    ['a non-hex character', ['uds', '22 G1'], 'HEX_INVALID'],
    ['a DoIP header with a wrong inverse version', ['doip', '02 FC 00 05 00 00 00 00'], 'DOIP_HEADER_PATTERN'],
    ['an unknown format', ['can', '00'], 'CLI_UNKNOWN_FORMAT'],
  ];
  for (const [what, args, code] of malformed) {
    it(`exits 1 with one line naming ${code} for ${what}`, () => {
      const r = runOta(['decode', ...args]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1);
      assert.match(lines[0] as string, new RegExp(`^error ${code}: `));
    });
  }

  it('a malformed --did-length is a usage error (exit 2)', () => {
    const r = runOta(['decode', 'uds', '62 F189 31', '--did-length', 'F189=zero']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
  });

  it('an Intel HEX file with a bad checksum names the line', () => {
    const bad = join(dir, 'bad.hex');
    writeFileSync(bad, ':020000040800F2\n:100000000102030405060708090A0B0C0D0E0F1069\n:00000001FF\n');
    const r = runOta(['decode', 'ihex', bad]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error FW_IHEX_CHECKSUM: .*line 2/);
  });
});
