// Tests of src/protocol/clock.ts (the Clock port), kept beside the CAN tests that rely on it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, systemClock } from '../../../src/protocol/clock.js';

describe('FakeClock', () => {
  it('fires timers in due order, equal due times in the order set, only when time advances', () => {
    const clock = new FakeClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@5'), 5);
    clock.setTimeout(() => fired.push('a@1'), 1);
    clock.setTimeout(() => fired.push('c@5'), 5);
    assert.deepEqual(fired, []);
    clock.advance(4.999);
    assert.deepEqual(fired, ['a@1']);
    clock.advance(0.001);
    assert.deepEqual(fired, ['a@1', 'b@5', 'c@5']);
    assert.equal(clock.now(), 105);
  });

  it('sees the due time as now inside a callback, and fires timers set by callbacks when due in the window', () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 0.25);
    }, 1.5);
    clock.advance(10);
    assert.deepEqual(seen, [1.5, 1.75]);
    assert.equal(clock.now(), 10);
  });

  it('cancels timers, and ignores unknown handles', () => {
    const clock = new FakeClock();
    let fired = false;
    const h = clock.setTimeout(() => (fired = true), 1);
    clock.clearTimeout(h);
    clock.clearTimeout(12345);
    clock.advance(2);
    assert.equal(fired, false);
    assert.equal(clock.pendingTimers, 0);
  });

  it('runs promise continuations between timers with advanceAsync', async () => {
    const clock = new FakeClock();
    const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
    const times: number[] = [];
    const task = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(2);
        times.push(clock.now());
      }
    })();
    await clock.advanceAsync(5);
    assert.deepEqual(times, [2, 4]);
    await clock.advanceAsync(1);
    await task;
    assert.deepEqual(times, [2, 4, 6]);
  });

  it('runAll runs until no timer is pending and reports the virtual time elapsed', async () => {
    const clock = new FakeClock();
    let n = 0;
    const tick = () => {
      if (++n < 4) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    assert.equal(await clock.runAll(), 40);
    assert.equal(n, 4);
    assert.equal(clock.nextDue(), undefined);
  });
});

describe('systemClock', () => {
  it('reports wall time and runs real timers', async () => {
    const before = Date.now();
    assert.ok(Math.abs(systemClock.now() - before) < 1000);
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 1));
    const h = systemClock.setTimeout(() => assert.fail('cleared timer fired'), 1);
    systemClock.clearTimeout(h);
    await new Promise((r) => setTimeout(r, 5));
  });
});
