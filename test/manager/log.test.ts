import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stderrLog } from '../../src/manager/log.js';

/** What `run` writes to process.stderr. */
function captureStderr(run: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    run();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

describe('stderrLog', () => {
  it('issue 9 §4: a vehicle string with ESC, BEL, an 8-bit CSI and a bidi override is one inert JSON line with the same value', () => {
    const hostile = '\u001b]0;owned\u0007 \u009b2J \u202eevil\r\n';
    const line = captureStderr(() => stderrLog('info')('info', 'vehicle.announce', { ecus: [`engine@${hostile}`] }));
    assert.equal(line.endsWith('\n'), true);
    const body = line.slice(0, -1);
    assert.equal(body.includes('\n'), false);
    for (let i = 0; i < body.length; i++) {
      const c = body.charCodeAt(i);
      assert.ok(!(c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e)), `raw control U+${c.toString(16)} at ${i}`);
    }
    assert.deepEqual((JSON.parse(body) as { ecus: string[] }).ecus, [`engine@${hostile}`]);
  });

  it('drops events below its level', () => {
    assert.equal(captureStderr(() => stderrLog('warn')('info', 'x')), '');
  });
});
