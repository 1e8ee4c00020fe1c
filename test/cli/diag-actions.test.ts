import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiagWords, requestOf, writeValue, type DiagAction } from '../../src/cli/diag/actions.js';
import { describeDidValue, parseDid, parseSession } from '../../src/cli/diag/catalog.js';
import { completer, splitWords, toDiagWords } from '../../src/cli/shell.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const req = (words: string[]): string => hex(requestOf(parseDiagWords(words) as Exclude<DiagAction, { verb: 'unlock' | 'read-did' }>));

describe('parseDiagWords › requestOf', () => {
  // words → the UDS request bytes, field by field
  const vectors: Array<[string[], string, string]> = [
    [['session', 'extended'], '1003', '10 DiagnosticSessionControl | 03 extendedDiagnosticSession'],
    [['session', 'programming'], '1002', '10 | 02 programmingSession'],
    [['session', '0x40'], '1040', '10 | 40 a manufacturer session by number'],
    [['read-dtc'], '1902FF', '19 ReadDTCInformation | 02 reportDTCByStatusMask | FF mask'],
    [['read-dtc', '--mask', '0x08'], '190208', '19 | 02 | 08 confirmedDTC'],
    [['read-dtc', '--mask=0x04'], '190204', '--name=value form'],
    [['clear-dtc'], '14FFFFFF', '14 ClearDiagnosticInformation | FFFFFF all groups'],
    [['clear-dtc', '--group', '0x800000'], '14800000', '14 | 800000 body group'],
    [['reset'], '1101', '11 ECUReset | 01 hardReset (default)'],
    [['reset', 'soft'], '1103', '11 | 03 softReset'],
    [['write-did', 'repair-shop', 'WS-0000042'], '2EF19857532D30303030303432', '2E | F198 | "WS-0000042" as text (an ASCII DID)'],
    [['write-did', 'distance-threshold', '01C2'], '2E011001C2', '2E | 0110 | 01C2 = 450 mm as hex'],
    [['write-did', 'F198', '0x41424344454647484950'], '2EF198' + '41424344454647484950', '0x… is hex even for an ASCII DID'],
    [['write-did', '0110', 'AB', '--text'], '2E01104142', '--text forces text'],
    [['routine', 'start', '0xFF00', '44080020000000E000'], '3101FF0044080020000000E000', '31 | 01 start | FF00 eraseMemory | option record'],
    [['routine', 'results', '0x0202'], '31030202', '31 | 03 requestRoutineResults | 0202'],
    [['tester-present'], '3E00', '3E | 00'],
    [['download', '0x08002000', '1024'], '3400440800200000000400', '34 | 00 DFI | 44 ALFID | address | size'],
    [['upload', '0x08000000', '0x100'], '3500440800000000000100', '35 | 00 | 44 | address | size'],
    [['transfer', '1', 'AABB'], '3601AABB', '36 | 01 BSC | data'],
    [['transfer-exit'], '37', '37'],
    [['raw', '85', '01'], '8501', 'raw words joined'],
    [['raw', '22F190'], '22F190', 'raw'],
  ];
  for (const [words, bytes, what] of vectors) {
    it(`${words.join(' ')} → ${bytes} (${what})`, () => assert.equal(req(words), bytes));
  }

  it('parses unlock and read-did as sequences with their options', () => {
    assert.deepEqual(parseDiagWords(['unlock']), { verb: 'unlock' });
    const u = parseDiagWords(['unlock', '--level', '0x11', '--secret', '00112233445566778899AABBCCDDEEFF']);
    assert.equal(u.verb === 'unlock' && u.level, 0x11);
    assert.equal(u.verb === 'unlock' && u.secret?.length, 16);
    assert.deepEqual(parseDiagWords(['read-did', 'vin', 'F18C', '0x0100']), { verb: 'read-did', dids: [0xf190, 0xf18c, 0x0100] });
  });

  const malformed: Array<[string[], string]> = [
    [[], 'CLI_USAGE'],
    [['bogus'], 'CLI_USAGE'],
    [['session'], 'CLI_USAGE'],
    [['session', 'sideways'], 'CLI_BAD_ARGUMENT'],
    [['session', '0x00'], 'CLI_BAD_ARGUMENT'],
    [['unlock', '--level', '0x02'], 'CLI_USAGE'],
    [['unlock', '--secret', '0011'], 'CLI_USAGE'],
    [['unlock', '--mask', '1'], 'CLI_USAGE'],
    [['unlock', '--level'], 'CLI_USAGE'],
    [['read-did'], 'CLI_USAGE'],
    [['read-did', 'F1XX'], 'CLI_BAD_DID'],
    [['write-did', 'vin'], 'CLI_USAGE'],
    [['write-did', '0110', 'xyz'], 'CLI_USAGE'],
    [['write-did', '0110', 'AB', '--hex', '--text'], 'CLI_USAGE'],
    [['read-dtc', '--mask', '0x100'], 'CLI_BAD_ARGUMENT'],
    [['read-dtc', 'extra'], 'CLI_USAGE'],
    [['clear-dtc', '--group', '0x1000000'], 'CLI_BAD_ARGUMENT'],
    [['routine', 'begin', '0xFF00'], 'CLI_USAGE'],
    [['routine', 'start', '0x10000'], 'CLI_BAD_ARGUMENT'],
    [['transfer', '256', 'AA'], 'CLI_BAD_ARGUMENT'],
    [['raw', 'zz'], 'CLI_USAGE'],
    [['raw', '123'], 'CLI_USAGE'],
  ];
  for (const [words, code] of malformed) {
    it(`refuses ${JSON.stringify(words.join(' '))} with ${code}`, () => assert.throws(() => parseDiagWords(words), { code }));
  }
});

describe('the DID catalog', () => {
  it('reads DIDs by hex or name, case-insensitive', () => {
    assert.deepEqual(['vin', 'VIN', 'F190', '0xf190', 'serial', 'app-version', 'distance-threshold'].map(parseDid), [0xf190, 0xf190, 0xf190, 0xf190, 0xf18c, 0xf189, 0x0110]);
  });
  it('describes values by kind: text, session, mm, volts, BCD date, boot state', () => {
    assert.equal(describeDidValue(0xf190, Buffer.from('ZZSVECU15SA000001')), '"ZZSVECU15SA000001"');
    assert.equal(describeDidValue(0xf186, Uint8Array.of(0x03)), 'extended');
    assert.equal(describeDidValue(0x0110, Uint8Array.of(0x01, 0xc2)), '450 mm');
    assert.equal(describeDidValue(0x0101, Uint8Array.of(0x36, 0x80)), '13.952 V');
    assert.equal(describeDidValue(0xf199, Uint8Array.of(0x20, 0x25, 0x11, 0x26)), '2025-11-26');
    assert.equal(describeDidValue(0xfd00, Uint8Array.of(0x02, 0x00)), 'application (applicationStarted)');
    assert.equal(describeDidValue(0x1234, Uint8Array.of(0x00, 0x01)), undefined);
  });
  it('names sessions', () => assert.deepEqual(['default', 'extended', 'programming', '3'].map(parseSession), [1, 3, 2, 3]));
  it('writes text to text DIDs and hex elsewhere', () => {
    assert.equal(hex(writeValue(0xf198, '0000000042')), Buffer.from('0000000042').toString('hex').toUpperCase());
    assert.equal(hex(writeValue(0x0110, '012C')), '012C');
    assert.throws(() => writeValue(0x0110, 'three hundred'), { code: 'CLI_USAGE' });
  });
});

describe('the shell line', () => {
  it('keeps quoted words together', () => {
    assert.deepEqual(splitWords(`write-did repair-shop "WS 42" 'a b'  x`), ['write-did', 'repair-shop', 'WS 42', 'a b', 'x']);
    assert.deepEqual(splitWords('   '), []);
  });
  it("maps the original tool's verbs onto diag commands", () => {
    assert.deepEqual(toDiagWords(['read', 'dtc', '--mask', '0x08']), ['read-dtc', '--mask', '0x08']);
    assert.deepEqual(toDiagWords(['read', 'vin', 'serial']), ['read-did', 'vin', 'serial']);
    assert.deepEqual(toDiagWords(['clear']), ['clear-dtc']);
    assert.deepEqual(toDiagWords(['transfer', 'exit']), ['transfer-exit']);
    assert.deepEqual(toDiagWords(['transfer', '1', 'AA']), ['transfer', '1', 'AA']);
    assert.deepEqual(toDiagWords(['session', 'extended']), ['session', 'extended']);
  });
  it('completes verbs, DID names, sessions and ECU names', () => {
    const complete = completer(['engine', 'body']);
    assert.deepEqual(complete('un'), [['unlock'], 'un']);
    assert.deepEqual(complete('read-did app'), [['app-version', 'applicationSoftwareVersion'], 'app']);
    assert.ok(complete('read d')[0].includes('dtc'));
    assert.deepEqual(complete('session ext'), [['extended'], 'ext']);
    assert.deepEqual(complete('ecu b'), [['body'], 'b']);
    assert.deepEqual(complete('raw 22'), [[], '22']);
  });
});
