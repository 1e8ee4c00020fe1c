/**
 * ISO-TP benchmarks: reassembly of 4 KiB messages (the UDS TransferData block size the gateway uses),
 * beside a plain Buffer copy of the same 4 KiB measured in the same run; plus segmentation and
 * reassembly end to end through the virtual CAN bus (timing model off), and the virtual bus time of a
 * 4 KiB message at 500 kbit/s (the physical lower bound a flash benchmark compares against).
 */
import { opsPerSecond, opsPerSecondAsync, type BenchSection, type Figure } from './harness.js';
import type { CanFrame, CanInterface } from '../src/protocol/can/frame.js';
import { VirtualCanBus } from '../src/protocol/can/virtual-bus.js';
import { canFrameTimeMs } from '../src/protocol/can/timing.js';
import { FakeClock } from '../src/protocol/clock.js';
import { decodeFrame, type IsoTpFrame } from '../src/protocol/isotp/frame.js';
import { IsoTpReassembler } from '../src/protocol/isotp/reassembler.js';
import { segmentMessage } from '../src/protocol/isotp/segment.js';
import { IsoTpTransport } from '../src/protocol/isotp/transport.js';

const MESSAGE_BYTES = 4096;
const payload = Uint8Array.from({ length: MESSAGE_BYTES }, (_, i) => (i * 31) & 0xff);
/** FF (with the 32-bit FF_DL escape: 4096 > 4095) and 585 CFs, classic CAN, padded. */
const frames = [...segmentMessage(payload)];

let sink = 0;

function bufferCopyBaseline(): { name: string; value: number; unit: string } {
  const source = Buffer.from(payload);
  const value = opsPerSecond(
    () => {
      for (let i = 0; i < 100; i++) sink ^= Buffer.from(source)[i] as number;
    },
    1000,
    100,
  );
  return { name: 'Buffer copy of 4 KiB (Buffer.from)', value, unit: 'copies/s' };
}

/** The pure state machine: decode each CAN frame and feed it, FF first. */
function reassemblerFigure(baseline: Figure['baseline'] & object): Figure {
  const reassembler = new IsoTpReassembler({ maxLength: 65_536 });
  const value = opsPerSecond(() => {
    for (const data of frames) {
      for (const out of reassembler.feed(decodeFrame(data) as Exclude<IsoTpFrame, { type: 'FC' }>, data.length)) {
        if (out.kind === 'message') sink ^= out.payload.length;
      }
    }
  });
  return {
    name: 'ISO-TP reassembly of a 4 KiB message (decode + IsoTpReassembler, FF + 585 CFs)',
    value,
    unit: 'messages/s',
    baseline,
    ratio: value / baseline.value,
  };
}

/** The receiving transport on a stub CAN interface (FC confirmed at once), fake clock. */
async function transportFigure(baseline: Figure['baseline'] & object): Promise<Figure> {
  let deliver: (frame: CanFrame) => void = () => undefined;
  const can: CanInterface = {
    send: () => Promise.resolve(),
    onFrame: (listener) => {
      deliver = listener;
      return () => undefined;
    },
  };
  const rx = new IsoTpTransport(can, { txId: 0x7e8, rxId: 0x7e0, clock: new FakeClock(), receiveQueueLength: 1 });
  rx.onMessage((m) => (sink ^= m.length));
  const canFrames: CanFrame[] = frames.map((data) => ({ id: 0x7e0, data }));
  const batch = 10;
  const value = await opsPerSecondAsync(
    async () => {
      for (let i = 0; i < batch; i++) for (const f of canFrames) deliver(f);
      await Promise.resolve();
    },
    1000,
    batch,
  );
  rx.close();
  return {
    name: 'ISO-TP receive of a 4 KiB message (IsoTpTransport on a stub CAN interface, fake clock)',
    value,
    unit: 'messages/s',
    baseline,
    ratio: value / baseline.value,
  };
}

/** Two transports on the virtual bus without the timing model: segmentation, FC, reassembly. */
async function endToEndFigure(baseline: Figure['baseline'] & object): Promise<Figure> {
  const clock = new FakeClock();
  const bus = new VirtualCanBus({ clock });
  const tester = new IsoTpTransport(bus.attach('tester'), { txId: 0x7e0, rxId: 0x7e8, clock });
  const ecu = new IsoTpTransport(bus.attach('ecu'), { txId: 0x7e8, rxId: 0x7e0, clock, blockSize: 8 });
  const value = await opsPerSecondAsync(async () => {
    const got = ecu.receive();
    await tester.send(payload);
    sink ^= (await got).length;
  });
  tester.close();
  ecu.close();
  return {
    name: 'ISO-TP 4 KiB end to end over VirtualCanBus (timing off, BS 8)',
    value,
    unit: 'messages/s',
    baseline,
    ratio: value / baseline.value,
  };
}

/** Bus time of the message's frames at 500 kbit/s with exact stuffing (FC frames excluded). */
function busTimeFigure(): Figure {
  const ms = frames.reduce((sum, data) => sum + canFrameTimeMs({ id: 0x7e0, data }), 0);
  return {
    name: 'virtual bus time of a 4 KiB ISO-TP message, classic CAN 500 kbit/s (FF + 585 CFs, exact stuffing)',
    value: ms,
    unit: 'ms',
  };
}

export const section: BenchSection = {
  title: 'ISO-TP (ISO 15765-2) reassembly and the virtual CAN bus',
  async run(): Promise<Figure[]> {
    const baseline = bufferCopyBaseline();
    const figures = [
      reassemblerFigure(baseline),
      await transportFigure(baseline),
      await endToEndFigure(baseline),
      busTimeFigure(),
    ];
    if (sink === 0.5) console.log(sink); // keeps `sink` observable so the work is not optimised away
    return figures;
  },
};
