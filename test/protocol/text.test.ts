import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeControls } from '../../src/protocol/text.js';
import { table } from '../../src/cli/terminal.js';

/** Index of the first code unit a terminal acts on (C0, DEL, C1, U+2028/9, bidi controls), LF too unless `allowLf`; -1 if none. */
function firstControl(text: string, allowLf = false): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (allowLf && c === 0x0a) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x200e || c === 0x200f || c === 0x2028 || c === 0x2029) return i;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return i;
  }
  return -1;
}

describe('escapeControls', () => {
  const cases: Array<[string, string, string]> = [
    ['ESC of a CSI sequence (clear screen)', '\u001b[2J', '\\u001B[2J'],
    ['an OSC window title ended by BEL', '\u001b]0;owned\u0007', '\\u001B]0;owned\\u0007'],
    ['CR returning over earlier text', '1.0.0\rFAKE', '1.0.0\\u000DFAKE'],
    ['BEL alone', 'ding\u0007', 'ding\\u0007'],
    ['an 8-bit CSI (C1) and DEL', '\u009b31m\u007f', '\\u009B31m\\u007F'],
    ['a right-to-left override and an isolate', 'a\u202eb\u2066c', 'a\\u202Eb\\u2066c'],
    ['LF, TAB, NUL and the Unicode line separator', 'a\nb\tc\u0000d\u2028', 'a\\u000Ab\\u0009c\\u0000d\\u2028'],
  ];
  for (const [what, input, shown] of cases) {
    it(`shows ${what} escaped`, () => {
      assert.equal(escapeControls(input), shown);
    });
  }

  it('leaves printable text alone, non-ASCII letters and emoji included', () => {
    for (const s of ['', '1.0.0', 'Grüße → 東京', 'stm32f103c8 ✓ 🚗', 'back\\slash']) assert.equal(escapeControls(s), s);
  });

  it('keepNewlines keeps LF (our own line breaks) and escapes every other control', () => {
    assert.equal(escapeControls('a\u001b[1A\nb\r\n', { keepNewlines: true }), 'a\\u001B[1A\nb\\u000D\n');
  });

  it('property: the output holds no control character, and JSON text stays valid JSON with the same value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        assert.equal(firstControl(escapeControls(s)), -1);
        const json = escapeControls(JSON.stringify({ s }, null, 2), { keepNewlines: true });
        assert.equal(firstControl(json, true), -1);
        assert.deepEqual(JSON.parse(json), { s });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('table (every CLI table)', () => {
  it('escapes each cell, so a hostile cell neither moves the cursor nor adds a row', () => {
    const out = table([
      ['ECU', 'APP'],
      ['engine', '\u001b[2J9.9.9\nVIN-FAKE online'],
    ]);
    assert.equal(out, 'ECU     APP\nengine  \\u001B[2J9.9.9\\u000AVIN-FAKE online');
  });
});
