import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EcuPort } from '../../../src/gateway/ecu-port.js';
import { StatusThrottle } from '../../../src/gateway/update/status.js';
import { FakeClock, systemClock } from '../../../src/protocol/clock.js';
import type { UpdateStatusMessage } from '../../../src/protocol/ota/update-messages.js';
import { fakeEcu, HandlerLink } from '../harness.js';

describe('EcuPort.exclusive (diagnostics pause while an ECU is flashed)', () => {
  it('answers diag requests GW_BUSY at once and refuses inventory reads while reserved, then serves them again', async () => {
    const link = new HandlerLink(fakeEcu());
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: link }, systemClock, 16, { keepAlive: false });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const flash = port.exclusive('flashing update job J', async () => {
      await port.client.readDid(0xf189); // the task itself uses the client
      await held;
      return 'flashed';
    });
    assert.equal(port.reserved, 'flashing update job J');
    const busy = await port.diagnose(Uint8Array.of(0x22, 0xf1, 0x8c), 5000);
    assert.ok('error' in busy);
    assert.equal(busy.error.code, 'GW_BUSY');
    assert.match(busy.error.message, /flashing update job J/);
    await assert.rejects(port.readInventory(), { code: 'GW_BUSY' });
    await assert.rejects(port.exclusive('another', () => Promise.resolve(1)), { code: 'GW_BUSY' });
    release();
    assert.equal(await flash, 'flashed');
    assert.equal(port.reserved, undefined);
    const ok = await port.diagnose(Uint8Array.of(0x22, 0xf1, 0x8c), 5000);
    assert.ok('response' in ok && ok.response !== null);
    assert.deepEqual(link.requests, ['22F189', '22F18C'], 'the refused request never reached the ECU');
    await port.close();
  });

  it('releases the ECU when the task fails', async () => {
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: new HandlerLink(fakeEcu()) }, systemClock, 16, { keepAlive: false });
    await assert.rejects(port.exclusive('x', () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(port.reserved, undefined);
    await port.close();
  });
});

describe('StatusThrottle', () => {
  const status = (phase: UpdateStatusMessage['phase'], percent: number): UpdateStatusMessage => ({ type: 'update.status', jobId: 'j', phase, percent });

  it('sends at most one status per interval within a phase, but every phase change, 100 % and final status', () => {
    const clock = new FakeClock(1000);
    const sent: string[] = [];
    const t = new StatusThrottle(clock, 200, (m) => (sent.push(`${m.phase}:${m.percent}`), true));
    t.report(status('erasing', 0));
    t.report(status('programming', 0)); // phase change
    clock.advance(100);
    t.report(status('programming', 10)); // within 200 ms: dropped
    clock.advance(150);
    t.report(status('programming', 0)); // same percent: dropped
    t.report(status('programming', 30)); // 250 ms after the last one sent
    t.report(status('programming', 100)); // 100 %: always
    t.report(status('checking', 0));
    t.report(status('done', 100));
    assert.deepEqual(sent, ['erasing:0', 'programming:0', 'programming:30', 'programming:100', 'checking:0', 'done:100']);
    assert.equal(t.current('j'), undefined, 'a final status ends the job');
  });
});
