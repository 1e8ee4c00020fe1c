import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, type Clock } from '../../../src/protocol/clock.js';
import { OtaError } from '../../../src/protocol/errors.js';
import type { CanFrame } from '../../../src/protocol/can/frame.js';
import { canFrameTimeMs } from '../../../src/protocol/can/timing.js';
import { VirtualCanBus, type CanTraceEntry } from '../../../src/protocol/can/virtual-bus.js';

const frame = (id: number, ...data: number[]): CanFrame => ({ id, data: Uint8Array.from(data) });
const hasCode = (code: string) => (e: unknown) => e instanceof OtaError && e.code === code;

describe('VirtualCanBus', () => {
  describe('without timing', () => {
    it('delivers a frame to every other node, not back to the sender', async () => {
      const bus = new VirtualCanBus();
      const [a, b, c] = [bus.attach('a'), bus.attach('b'), bus.attach('c')];
      const got: Record<string, number[]> = { a: [], b: [], c: [] };
      a.onFrame((f) => got.a?.push(f.id));
      b.onFrame((f) => got.b?.push(f.id));
      c.onFrame((f) => got.c?.push(f.id));
      await a.send(frame(0x7e0, 0x02, 0x10, 0x03));
      assert.deepEqual(got, { a: [], b: [0x7e0], c: [0x7e0] });
    });

    it('puts frames on the bus one at a time in send order', async () => {
      const bus = new VirtualCanBus();
      const [a, b, rx] = [bus.attach('a'), bus.attach('b'), bus.attach('rx')];
      const order: number[] = [];
      rx.onFrame((f) => order.push(f.id));
      await Promise.all([a.send(frame(0x300)), b.send(frame(0x100)), a.send(frame(0x200))]);
      assert.deepEqual(order, [0x300, 0x100, 0x200]);
    });

    it('delivers asynchronously (next microtask), resolving send after delivery', async () => {
      const bus = new VirtualCanBus();
      const [a, b] = [bus.attach(), bus.attach()];
      let delivered = false;
      b.onFrame(() => (delivered = true));
      const sent = a.send(frame(1, 0));
      assert.equal(delivered, false);
      await sent;
      assert.equal(delivered, true);
    });

    it('copies the frame when sent, so later changes to the buffer do not reach the wire', async () => {
      const bus = new VirtualCanBus();
      const [a, b] = [bus.attach(), bus.attach()];
      const seen: number[] = [];
      b.onFrame((f) => seen.push(...f.data));
      const data = Uint8Array.of(1, 2);
      const sent = a.send({ id: 5, data });
      data[0] = 9;
      await sent;
      assert.deepEqual(seen, [1, 2]);
    });

    it('unsubscribes a listener and detaches a node (its queued frames are rejected with CAN_DETACHED)', async () => {
      const bus = new VirtualCanBus();
      const [a, b] = [bus.attach(), bus.attach()];
      let count = 0;
      const off = b.onFrame(() => count++);
      await a.send(frame(1));
      off();
      await a.send(frame(2));
      assert.equal(count, 1);
      const first = a.send(frame(3));
      const queued = a.send(frame(4));
      a.detach();
      await assert.rejects(first, hasCode('CAN_DETACHED'));
      await assert.rejects(queued, hasCode('CAN_DETACHED'));
      await assert.rejects(a.send(frame(5)), hasCode('CAN_DETACHED'));
    });

    it('rejects a frame no controller can send (CAN_ID_RANGE, CAN_DATA_LENGTH)', async () => {
      const bus = new VirtualCanBus();
      const a = bus.attach();
      await assert.rejects(a.send({ id: 0x800, data: new Uint8Array(0) }), hasCode('CAN_ID_RANGE'));
      await assert.rejects(a.send({ id: 1, data: new Uint8Array(9) }), hasCode('CAN_DATA_LENGTH'));
      await assert.rejects(a.send({ id: 1, fd: true, data: new Uint8Array(10) }), hasCode('CAN_DATA_LENGTH'));
      await a.send({ id: 1, fd: true, data: new Uint8Array(12) });
    });
  });

  describe('with the timing model', () => {
    it('resolves send after the frame bus time and serialises frames back to back', async () => {
      const clock = new FakeClock();
      const bus = new VirtualCanBus({ clock, timing: { bitRate: 500_000 } });
      const [a, b, rx] = [bus.attach('a'), bus.attach('b'), bus.attach('rx')];
      const trace: CanTraceEntry[] = [];
      bus.onTrace((e) => trace.push(e));
      const f1 = frame(0x7e0, 0x02, 0x10, 0x03); // 77 bits = 154 µs at 500 kbit/s
      const f2 = frame(0x7e8, 0x06, 0x50, 0x03, 0x00, 0x32, 0x01, 0xf4);
      const t1 = canFrameTimeMs(f1);
      assert.ok(Math.abs(t1 - 0.154) < 1e-12);
      const t2 = t1 + canFrameTimeMs(f2);
      const done: Array<[string, number]> = [];
      void a.send(f1).then(() => done.push(['a', clock.now()]));
      void b.send(f2).then(() => done.push(['b', clock.now()]));
      const received: number[] = [];
      rx.onFrame((f) => received.push(f.id));
      await clock.advanceAsync(t1 - 1e-6);
      assert.deepEqual(done, []);
      await clock.advanceAsync(t1 - clock.now());
      assert.deepEqual(done, [['a', t1]]);
      await clock.advanceAsync(t2 - clock.now());
      assert.deepEqual(done, [
        ['a', t1],
        ['b', t2],
      ]);
      assert.deepEqual(received, [0x7e0, 0x7e8]);
      assert.deepEqual(
        trace.map((e) => [e.from, e.time]),
        [
          ['a', t1],
          ['b', t2],
        ],
      );
      assert.equal(bus.stats.frames, 2);
    });

    it('carries ≈ 4,300 padded 8-byte frames per second at 500 kbit/s (ARCHITECTURE.md)', async () => {
      const clock = new FakeClock();
      const bus = new VirtualCanBus({ clock, timing: {} });
      const a = bus.attach();
      bus.attach();
      const sends: Array<Promise<void>> = [];
      for (let i = 0; i < 1000; i++) {
        sends.push(a.send({ id: 0x7e0, data: Uint8Array.of(0x20 | (i & 0xf), 1, 2, 3, 4, 5, 6, 7) }));
      }
      const elapsed = await clock.runAll();
      await Promise.all(sends);
      const perSecond = 1000 / (elapsed / 1000);
      assert.ok(perSecond > 3_900 && perSecond < 4_600, `${perSecond} frames/s`);
      assert.ok(Math.abs(bus.stats.busTimeMs - elapsed) < 1e-6);
    });

    it('keeps the modelled throughput when the clock timers fire late (Node rounds up to 1 ms)', async () => {
      const fake = new FakeClock();
      const coarse: Clock = {
        now: () => fake.now(),
        setTimeout: (fn, ms) => fake.setTimeout(fn, Math.max(1, Math.ceil(ms))),
        clearTimeout: (h) => fake.clearTimeout(h),
      };
      const bus = new VirtualCanBus({ clock: coarse, timing: {} });
      const a = bus.attach();
      bus.attach();
      const f = { id: 0x7e0, data: new Uint8Array(8).fill(0xcc) };
      const sends = Array.from({ length: 1000 }, () => a.send(f));
      const elapsed = await fake.runAll();
      await Promise.all(sends);
      const exact = 1000 * canFrameTimeMs(f);
      assert.ok(elapsed >= exact - 1e-6 && elapsed < exact + 2, `${elapsed} ms for ${exact} ms of bus time`);
      // A sender that queues each frame only on the previous one's confirmation (as ISO-TP does) too.
      const start = fake.now();
      const sequential = (async () => {
        for (let i = 0; i < 200; i++) await a.send(f);
      })();
      await fake.runAll();
      await sequential;
      const took = fake.now() - start;
      assert.ok(took < 200 * canFrameTimeMs(f) + 2, `${took} ms for 200 frames`);
    });

    it('takes the bus time from the injected clock, not wall time', async () => {
      const clock = new FakeClock(1_000_000);
      const bus = new VirtualCanBus({ clock, timing: { bitRate: 125_000 } });
      const a = bus.attach();
      let resolved = false;
      void a.send(frame(0x100, 1, 2, 3, 4, 5, 6, 7, 8)).then(() => (resolved = true));
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(resolved, false);
      await clock.runAll();
      assert.equal(resolved, true);
      assert.ok(clock.now() - 1_000_000 > 0.8, 'an 8-byte frame at 125 kbit/s takes more than 0.8 ms');
    });
  });
});
