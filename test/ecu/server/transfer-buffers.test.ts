// The double-buffered TransferData of the bootloader (docs/flash-sequence.md §2 "Response timing"): 0x76
// is sent once a block is buffered, programming runs in the background under the physical timing model
// (fake clock), 0x37 answers once everything is programmed, background failures are not lost, a reset
// loses the buffers. A 2048-byte block takes 1024 half-words × 52.5 µs = 53.76 ms to program.
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../../src/protocol/hex.js';
import type { VirtualEcuOptions } from '../../../src/ecu/server/index.js';
import { APP_START, Harness, bytes, cat, range44 } from './helpers.js';

const BLOCK = 0x800;
const BLOCK_MS = 53.76;

/** Image bytes without 0xFF, so the programmed prefix of flash is exactly where it equals the image. */
function image(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 7) % 255);
}

/** Programming session, level 0x11, `size` bytes at APP_START erased and a RequestDownload of them accepted. */
async function downloading(size: number, options: VirtualEcuOptions = {}): Promise<Harness> {
  const h = new Harness({ timing: true, ...options });
  await h.programmingUnlocked();
  const erase = await h.send(cat('31 01 FF 00', range44(APP_START, size)), { advanceMs: 500 });
  assert.equal(erase.at(-1), '71 01 FF 00 00');
  assert.equal(await h.one(cat('34 00', range44(APP_START, size))), '74 20 08 02');
  return h;
}

interface Heard {
  /** ms after the request was handed to the ECU. */
  at: number;
  hex: string;
}

/** Hands `request` to the ECU and records each response with the (fake) time it came. */
function start(h: Harness, request: string | Uint8Array): { heard: Heard[]; done: Promise<void> } {
  const heard: Heard[] = [];
  const t0 = h.clock.now();
  const done = h.ecu.handler.handle(bytes(request), (r) => heard.push({ at: h.clock.now() - t0, hex: toHex(r) }), { functional: false });
  return { heard, done };
}

/** The responses to `request` that come without the clock moving (asserting that the ECU is done with it). */
async function atOnce(h: Harness, request: string | Uint8Array): Promise<string[]> {
  const { heard, done } = start(h, request);
  await h.clock.advanceAsync(0);
  assert.ok(heard.every((r) => r.at === 0));
  assert.ok(heard.length > 0, `no response to ${toHex(bytes(request)).slice(0, 8)}… without time passing`);
  await done;
  return heard.map((r) => r.hex);
}

/** Length of the prefix of the downloaded range that holds the image; asserts the rest reads erased. */
function programmedPrefix(h: Harness, data: Uint8Array): number {
  const flash = h.ecu.nvm.flash.read(APP_START, data.length);
  let k = 0;
  while (k < data.length && flash[k] === data[k]) k++;
  assert.ok(h.ecu.nvm.flash.isErased(APP_START + k, data.length - k), `bytes after ${k} must read erased`);
  return k;
}

function block(data: Uint8Array, bsc: number): Uint8Array {
  return cat([0x36, bsc], data.subarray((bsc - 1) * BLOCK, bsc * BLOCK));
}

describe('TransferData double buffering (background programming)', () => {
  it('ISO 14229-1 §14.4: answers 76 <BSC> as soon as the block is buffered and programs it in the background', async () => {
    const data = image(2 * BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    assert.ok(programmedPrefix(h, data) < BLOCK, 'not programmed yet when 0x76 is sent');
    await h.clock.advanceAsync(BLOCK_MS);
    assert.equal(programmedPrefix(h, data), BLOCK);
  });

  it('with 1 buffer, a block arriving while the buffer is taken waits for the programming (7F 36 78, then 76)', async () => {
    const data = image(2 * BLOCK);
    const h = await downloading(data.length, { transferBuffers: 1 });
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    const second = start(h, block(data, 2));
    await h.clock.advanceAsync(100);
    await second.done;
    assert.deepEqual(second.heard.map((r) => r.hex), ['7F 36 78', '76 02']);
    assert.equal(second.heard[0]?.at, 0); // at once: the timing model knows block 1 needs 53.76 ms more
    assert.ok((second.heard[1]?.at ?? 0) >= BLOCK_MS, 'answered only once block 1 is programmed');
    assert.ok(programmedPrefix(h, data) > BLOCK, 'block 2 is being programmed');
  });

  it('a wait the timing model knows to be shorter than 40 % of P2 gets no 7F 36 78', async () => {
    const data = image(1200); // block 1: 300 half-words × 52.5 µs = 15.75 ms
    const h = await downloading(data.length, { transferBuffers: 1 });
    assert.deepEqual(await atOnce(h, cat([0x36, 0x01], data.subarray(0, 600))), ['76 01']);
    const second = start(h, cat([0x36, 0x02], data.subarray(600)));
    await h.clock.advanceAsync(50);
    await second.done;
    assert.deepEqual(second.heard.map((r) => r.hex), ['76 02']);
    assert.ok((second.heard[0]?.at ?? 0) >= 15.75, 'answered once block 1 is programmed');
  });

  it('with 2 buffers, two blocks are answered at once, the third waits, and flash is programmed in block order', async () => {
    const data = image(3 * BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    assert.deepEqual(await atOnce(h, block(data, 2)), ['76 02']);
    const third = start(h, block(data, 3));
    let previous = 0;
    const seen = new Set<number>();
    for (let t = 0; t < 200; t += 5) {
      await h.clock.advanceAsync(5);
      const k = programmedPrefix(h, data); // the written bytes are always one prefix: blocks never reordered
      assert.ok(k >= previous, 'programming never goes back');
      previous = k;
      seen.add(Math.floor(k / BLOCK));
    }
    await third.done;
    assert.deepEqual(third.heard.map((r) => r.hex), ['7F 36 78', '76 03']);
    assert.ok((third.heard[1]?.at ?? 0) >= BLOCK_MS, 'block 3 waited for block 1');
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]); // inside block 1, then 2, then 3, then done
    assert.deepEqual(await atOnce(h, '37'), ['77']);
    assert.deepEqual(h.ecu.nvm.flash.read(APP_START, data.length), data);
  });

  it('ISO 14229-1 §14.5: RequestTransferExit waits for the buffered programming (7F 37 78 after P2), then 77', async () => {
    const data = image(BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    const exit = start(h, '37');
    await h.clock.advanceAsync(100);
    await exit.done;
    assert.deepEqual(exit.heard.map((r) => r.hex), ['7F 37 78', '77']);
    assert.ok(Math.abs((exit.heard[1]?.at ?? 0) - BLOCK_MS) < 0.01, 'answered when block 1 is programmed');
    const digest = createHash('sha256').update(data).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
    assert.equal(await h.one('31 01 02 02'), `71 01 02 02 00 ${digest}`);
  });

  it('ISO 14229-1 §14.4.4: a background programming failure is answered on the next 36 with NRC 0x72, and the transfer is aborted', async () => {
    const data = image(3 * BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    h.ecu.nvm.flash.programHalfWord(APP_START + 0x700, 0x1234); // a cell of block 1 sticks before it is programmed
    assert.deepEqual(await atOnce(h, block(data, 2)), ['76 02']); // buffered: the failure is not known yet
    await h.clock.advanceAsync(200);
    assert.deepEqual(await atOnce(h, block(data, 3)), ['7F 36 72']);
    assert.deepEqual(await atOnce(h, block(data, 3)), ['7F 36 24']); // aborted: no download any more
    assert.deepEqual(await atOnce(h, '37'), ['7F 37 24']);
    assert.deepEqual(h.ecu.nvm.flash.read(APP_START, 0x700), data.subarray(0, 0x700)); // up to the stuck cell
    assert.ok(h.ecu.nvm.flash.isErased(APP_START + BLOCK, 2 * BLOCK), 'block 2, behind the failure, is never programmed');
  });

  it('ISO 14229-1 §14.5.4: a background programming failure is answered by 37 with NRC 0x72, and the transfer is aborted', async () => {
    const data = image(BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    h.ecu.nvm.flash.programHalfWord(APP_START + 0x700, 0x1234);
    const exit = start(h, '37');
    await h.clock.advanceAsync(100);
    await exit.done;
    assert.deepEqual(exit.heard.map((r) => r.hex), ['7F 37 78', '7F 37 72']);
    assert.deepEqual(await atOnce(h, '37'), ['7F 37 24']);
    assert.deepEqual(await atOnce(h, '31 01 02 02'), ['7F 31 24']); // nothing was completed
  });

  it('ISO 14229-1 §14.4.2: a retransmitted block is answered 76 without programming it again, even while it is programming', async () => {
    const data = image(2 * BLOCK);
    const h = await downloading(data.length);
    const before = h.ecu.nvm.flash.opCounts().halfWordsProgrammed;
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    assert.deepEqual(await atOnce(h, block(data, 2)), ['76 02']);
    assert.deepEqual(await atOnce(h, block(data, 2)), ['76 02']);
    await h.clock.advanceAsync(200);
    assert.deepEqual(await atOnce(h, '37'), ['77']);
    assert.equal(h.ecu.nvm.flash.opCounts().halfWordsProgrammed - before, data.length / 2);
    assert.deepEqual(h.ecu.nvm.flash.read(APP_START, data.length), data);
  });

  it('ECUReset during background programming loses the buffers: a half-written block, the rest erased', async () => {
    const data = image(3 * BLOCK);
    const h = await downloading(data.length);
    assert.deepEqual(await atOnce(h, block(data, 1)), ['76 01']);
    assert.deepEqual(await atOnce(h, block(data, 2)), ['76 02']);
    await h.clock.advanceAsync(20);
    assert.deepEqual(await atOnce(h, '11 01'), ['51 01']);
    await h.clock.advanceAsync(500);
    const k = programmedPrefix(h, data); // also asserts that everything after it reads erased
    assert.ok(k > 0 && k < BLOCK, `${k} bytes programmed: block 1 stopped part-way, block 2 never started`);
    assert.equal(k % 2, 0);
    assert.equal(h.ecu.mode, 'bootloader');
    assert.equal(h.ecu.status().downloadActive, false);
  });

  it('rejects a transferBuffers option outside 1…16', () => {
    for (const transferBuffers of [0, 1.5, 17]) {
      assert.throws(() => new Harness({ transferBuffers }), (e: unknown) => (e as { code?: string }).code === 'ECU_CONFIG');
    }
  });
});
