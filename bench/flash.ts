/**
 * Flash time of a 56 KiB application over the virtual CAN bus with the physical timing model — classic
 * CAN 500 kbit/s with exact bit stuffing, page erase 22 ms and half-word program 52.5 µs (src/ecu/
 * flash-timing.ts) — on a real clock, beside the physical lower bound computed from the same model
 * (bench/flash-bound.ts), with and without overlap of transfer and programming. Target: the flash within
 * 1.10 × the overlapped bound.
 *
 * Two runs: `systemClock` (Node timers, ≥ 1 ms each) and, to show what timer granularity costs, a real-time
 * clock with sub-millisecond timers (a Node timer until ~1.5 ms before the deadline, then setImmediate polls).
 */
import { createHash, randomBytes } from 'node:crypto';
import { VirtualCanBus } from '../src/protocol/can/index.js';
import { systemClock, type Clock, type TimerHandle } from '../src/protocol/clock.js';
import { FLASH_MODELS } from '../src/protocol/firmware/index.js';
import { createVirtualEcu } from '../src/ecu/server/index.js';
import { bindCanNode } from '../src/ecu/links/can-node.js';
import { createIsoTpLink } from '../src/gateway/links/isotp-link.js';
import { UdsClient } from '../src/gateway/uds/client.js';
import { flashEcu, type FlashResult } from '../src/gateway/uds/flash.js';
import { signManifest } from '../src/security/firmware/index.js';
import { createCa, issueCertificate, trustStoreFromPem, type Issued } from '../src/security/pki/index.js';
import type { BenchSection, Figure } from './harness.js';
import { BUS, IDS, lowerBounds, recording, type Message } from './flash-bound.js';

/** The largest maxNumberOfBlockLength one classic-CAN ISO-TP message carries (FF_DL ≤ 4095). */
const MAX_BLOCK = 0x0fff;
const APP = FLASH_MODELS.stm32f103c8.application;

/** A 56 KiB image: vector table (SP 0x20005000, Thumb reset handler) and pseudo-random code. */
function applicationImage(): { address: number; data: Uint8Array } {
  const data = Uint8Array.from(randomBytes(APP.end - APP.start));
  const view = new DataView(data.buffer);
  view.setUint32(0, 0x2000_5000, true);
  for (let off = 4; off < 0x130; off += 4) view.setUint32(off, APP.start + 0x131, true);
  return { address: APP.start, data };
}

/** A real-time clock whose timers fire within microseconds of their deadline (sub-ms, unlike Node timers). */
function highResolutionClock(): Clock {
  const origin = Date.now() - performance.now();
  interface Handle { cancelled: boolean; timer?: ReturnType<typeof setTimeout> }
  return {
    now: () => origin + performance.now(),
    setTimeout: (fn, ms) => {
      const deadline = performance.now() + Math.max(0, ms);
      const h: Handle = { cancelled: false };
      const poll = (): void => {
        if (h.cancelled) return;
        const left = deadline - performance.now();
        if (left <= 0) fn();
        else if (left > 2) h.timer = setTimeout(poll, left - 1.5);
        else setImmediate(poll);
      };
      setImmediate(poll);
      return h;
    },
    clearTimeout: (handle: TimerHandle) => {
      const h = handle as Handle;
      h.cancelled = true;
      if (h.timer !== undefined) clearTimeout(h.timer);
    },
  };
}

interface Run {
  ms: number;
  result: FlashResult;
  messages: Message[];
  bus: { frames: number; busTimeMs: number };
}

async function flashOnce(clock: Clock, pki: { ca: Issued; release: Issued }, image: { address: number; data: Uint8Array }): Promise<Run> {
  const secret = Uint8Array.from(randomBytes(32));
  const ecu = createVirtualEcu({ trust: await trustStoreFromPem(pki.ca.certPem), secret, timing: true, clock });
  const bus = new VirtualCanBus({ clock, timing: BUS });
  const node = bindCanNode(bus.attach('ecu'), ecu.handlerFor({ maxBlockLength: MAX_BLOCK }), { ...IDS, clock });
  const messages: Message[] = [];
  const client = new UdsClient(recording(createIsoTpLink(bus.attach('tester'), { ...IDS, clock }), messages), { clock });
  const sha256 = createHash('sha256').update(image.data).digest('hex');
  const signed = signManifest({ hardwareId: 'stm32f103c8', version: '1.0.0', counter: 1, length: image.data.length, sha256, loadAddress: image.address, format: 'bin' }, pki.release);
  try {
    const start = performance.now();
    const result = await flashEcu(client, { image, signedManifest: signed, secret });
    return { ms: performance.now() - start, result, messages, bus: bus.stats };
  } finally {
    await client.close();
    node.close();
    ecu.close();
  }
}

function ratioFigure(name: string, ms: number, bound: { name: string; value: number }, target?: string): Figure {
  const f: Figure = { name, value: ms, unit: 'ms', baseline: { name: bound.name, value: bound.value, unit: 'ms' }, ratio: ms / bound.value };
  if (target !== undefined) f.target = target;
  return f;
}

export const section: BenchSection = {
  title: 'UDS flash of 56 KiB over virtual CAN 500 kbit/s (physical timing) vs the physical lower bound',
  async run(): Promise<Figure[]> {
    const ca = await createCa({ name: 'Bench Fleet CA' });
    const pki = { ca, release: await issueCertificate(ca, { role: 'release', name: 'release-bench' }) };
    const image = applicationImage();
    const real = await flashOnce(systemClock, pki, image);
    const fine = await flashOnce(highResolutionClock(), pki, image);
    const b = lowerBounds(real.messages, { address: image.address, length: image.data.length });
    const overlapped = { name: 'lower bound, transfer and programming overlapped', value: b.overlapped };
    const sequential = { name: 'lower bound, no overlap (bus + erase + program)', value: b.sequential };
    const phase = (r: Run, p: 'erasing' | 'programming'): number => r.result.phaseMs[p];
    return [
      ratioFigure('flash 56 KiB, systemClock (actual / overlapped bound)', real.ms, overlapped, '<= 1.10'),
      ratioFigure('flash 56 KiB, systemClock (actual / no-overlap bound)', real.ms, sequential),
      ratioFigure('flash 56 KiB, sub-ms real-time clock (actual / overlapped bound)', fine.ms, overlapped, '<= 1.10'),
      ratioFigure('flash 56 KiB, sub-ms real-time clock (actual / no-overlap bound)', fine.ms, sequential),
      { name: `bound parts: bus ${b.busMs.toFixed(0)} ms, erase ${b.eraseMs.toFixed(0)} ms, program ${b.programMs.toFixed(0)} ms; blocks`, value: real.result.blocks, unit: `× ${real.result.maxNumberOfBlockLength - 2} B` },
      { name: 'systemClock: erasing phase (bound: erase)', value: phase(real, 'erasing'), unit: 'ms', baseline: { name: 'erase', value: b.eraseMs, unit: 'ms' }, ratio: phase(real, 'erasing') / b.eraseMs },
      { name: 'systemClock: programming phase (34 + 36… + 37)', value: phase(real, 'programming'), unit: 'ms' },
      { name: 'sub-ms clock: programming phase (34 + 36… + 37)', value: phase(fine, 'programming'), unit: 'ms' },
      { name: `bus busy time measured (${real.bus.frames} frames incl. 0x78 pending)`, value: real.bus.busTimeMs, unit: 'ms', baseline: { name: 'bus time of the sequence (bound)', value: b.busMs, unit: 'ms' }, ratio: real.bus.busTimeMs / b.busMs },
    ];
  },
};
