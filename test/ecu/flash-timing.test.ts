import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/protocol/clock.js';
import { Flash, FLASH_ERROR } from '../../src/ecu/flash.js';
import {
  DEFAULT_FLASH_TIMING,
  flashTimeMs,
  imageFlashOps,
  MIN_FLASH_TIMING,
  TimedFlash,
} from '../../src/ecu/flash-timing.js';
import { ECU_FLASH_MODELS } from '../../src/ecu/models.js';

const APP = 0x0800_2000;
const close = (actual: number, expected: number): void =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

describe('flashTimeMs', () => {
  it('charges 22 ms per page erase and 52.5 µs per half-word by default (DS5319 tprog typ)', () => {
    // full c8 application region: 56 pages, 28 672 half-words → 56·22 + 28672·0.0525 = 2737.28 ms
    close(flashTimeMs({ pagesErased: 56, halfWordsProgrammed: 28_672 }), 2737.28);
    assert.deepEqual(DEFAULT_FLASH_TIMING, { pageEraseMs: 22, halfWordProgramUs: 52.5 });
  });

  it('gives the datasheet minimum with MIN_FLASH_TIMING (tERASE 20 ms, tprog 40 µs)', () => {
    close(flashTimeMs({ pagesErased: 56, halfWordsProgrammed: 28_672 }, MIN_FLASH_TIMING), 56 * 20 + 28_672 * 0.04);
  });

  it('imageFlashOps counts touched pages and half-words (odd lengths round up)', () => {
    const c8 = ECU_FLASH_MODELS.stm32f103c8;
    assert.deepEqual(imageFlashOps(c8, APP, 56 * 1024), { pagesErased: 56, halfWordsProgrammed: 28_672 });
    assert.deepEqual(imageFlashOps(c8, APP + 0x3ff, 3), { pagesErased: 2, halfWordsProgrammed: 2 });
    assert.deepEqual(imageFlashOps(ECU_FLASH_MODELS.stm32f103ze, APP, 4096), { pagesErased: 2, halfWordsProgrammed: 2048 });
    assert.deepEqual(imageFlashOps(c8, APP, 0), { pagesErased: 0, halfWordsProgrammed: 0 });
  });
});

describe('TimedFlash', () => {
  it('spends tERASE per page and tprog per half-word on the clock (sums match flashTimeMs)', async () => {
    const clock = new FakeClock(1_000);
    const timed = new TimedFlash(Flash.inMemory(), { timing: DEFAULT_FLASH_TIMING, clock });
    const erase = timed.eraseRange(APP, 3 * 1024);
    close(await clock.runAll(), 3 * 22);
    assert.deepEqual(await erase, [APP, APP + 0x400, APP + 0x800]);

    const program = timed.program(APP, new Uint8Array(1000).fill(0x5a));
    close(await clock.runAll(), 500 * 0.0525);
    await program;
    close(timed.physicalMs, 66 + 26.25);
    close(flashTimeMs(timed.flash.opCounts()), timed.physicalMs);
  });

  it('erases page by page and programs slice by slice: mid-operation the flash is partly done', async () => {
    const clock = new FakeClock();
    const flash = Flash.inMemory();
    const timed = new TimedFlash(flash, { timing: DEFAULT_FLASH_TIMING, clock });
    flash.program(APP, new Uint8Array(0x800));
    const erase = timed.eraseRange(APP, 0x800);
    await clock.advanceAsync(10); // first page erased at t=0, its 22 ms are running
    assert.ok(flash.isErased(APP, 0x400));
    assert.ok(!flash.isErased(APP + 0x400, 0x400));
    await clock.runAll();
    await erase;

    const program = timed.program(APP, new Uint8Array(0x800).fill(0x11)); // 1024 half-words = 53.76 ms
    await clock.advanceAsync(20);
    const done = flash.read(APP, 0x800).findIndex((b) => b === 0xff);
    assert.ok(done > 0 && done < 0x800, `programmed ${done} bytes after 20 of 53.76 ms`);
    await clock.runAll();
    await program;
    assert.ok(!flash.read(APP, 0x800).includes(0xff));
  });

  it('stops programming between slices once cancelled (power loss mid-block): the slices done stay', async () => {
    const clock = new FakeClock();
    const flash = Flash.inMemory();
    const timed = new TimedFlash(flash, { timing: DEFAULT_FLASH_TIMING, clock });
    let powered = true;
    const program = timed.program(APP, new Uint8Array(0x800).fill(0x33), { cancelled: () => !powered });
    await clock.advanceAsync(10);
    powered = false;
    await clock.runAll();
    await program; // resolves: nobody is left to tell
    const done = flash.read(APP, 0x800).findIndex((b) => b === 0xff);
    assert.ok(done > 0 && done < 0x200, `programmed ${done} bytes before the power went at 10 of 53.76 ms`);
    assert.ok(flash.isErased(APP + done, 0x800 - done));
    assert.equal(flash.opCounts().halfWordsProgrammed, done / 2);
    const never = timed.program(APP + 0x400, Uint8Array.of(1, 2), { cancelled: () => true });
    await never;
    assert.ok(flash.isErased(APP + 0x400, 2));
  });

  it('runs concurrent operations one after another (the FPEC is busy)', async () => {
    const clock = new FakeClock();
    const timed = new TimedFlash(Flash.inMemory(), { timing: { pageEraseMs: 30, halfWordProgramUs: 50 }, clock });
    const a = timed.erasePage(APP);
    const b = timed.erasePage(APP + 0x400);
    const c = timed.programHalfWord(APP, 0x1234);
    close(await clock.runAll(), 60.05);
    await Promise.all([a, b, c]);
  });

  it('charges the half-words done before a PGERR and rejects with FLASH_NOT_ERASED', async () => {
    const clock = new FakeClock();
    const flash = Flash.inMemory();
    flash.programHalfWord(APP + 200, 0x0001);
    const timed = new TimedFlash(flash, { timing: DEFAULT_FLASH_TIMING, clock });
    const program = timed.program(APP, new Uint8Array(400).fill(0x22));
    const settled = program.then(() => 'resolved', (e: { code: string }) => e.code);
    close(await clock.runAll(), 100 * 0.0525);
    assert.equal(await settled, FLASH_ERROR.NOT_ERASED);
  });

  it('with timing off, completes without touching the clock', async () => {
    const clock = new FakeClock();
    const timed = new TimedFlash(Flash.inMemory(), { clock });
    await timed.eraseRange(APP, 0x400);
    await timed.program(APP, Uint8Array.of(1, 2));
    assert.equal(clock.pendingTimers, 0);
    assert.equal(clock.now(), 0);
    assert.equal(timed.physicalMs, 0);
  });

  it('rejects a write-protected erase or an out-of-range program before writing or spending anything', async () => {
    const clock = new FakeClock();
    const flash = Flash.inMemory();
    const timed = new TimedFlash(flash, { timing: DEFAULT_FLASH_TIMING, clock });
    await assert.rejects(timed.eraseRange(APP - 0x400, 0x800), { code: FLASH_ERROR.WRITE_PROTECTED });
    await assert.rejects(timed.program(0x0800_fff0, new Uint8Array(64)), { code: FLASH_ERROR.OUT_OF_RANGE });
    assert.ok(flash.isErased(0x0800_fff0, 16));
    assert.equal(clock.pendingTimers, 0);
  });
});
