/**
 * UDS codec throughput: TransferData (0x36, BSC + 4 KiB block) encoded and decoded, beside a trivial
 * baseline measured in the same run — a plain `Buffer.from` copy of the same message bytes.
 */
import { opsPerSecond, type BenchSection, type Figure } from './harness.js';
import { decodeRequest, encodeRequest } from '../src/protocol/uds/index.js';

const BLOCK = 4096;
/** Operations per timed call, so the timer's own cost stays out of the figures. */
const BATCH = 16;

/** Keeps results observable so the work is not optimised away. */
let sink = 0;

export const section: BenchSection = {
  title: 'UDS codec (TransferData 4 KiB)',
  async run(): Promise<Figure[]> {
    const data = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) data[i] = (i * 31 + 7) & 0xff;
    const message = encodeRequest({ service: 'TransferData', blockSequenceCounter: 0x01, data });

    let bsc = 0x01;
    const codec = opsPerSecond(
      () => {
        for (let i = 0; i < BATCH; i++) {
          const bytes = encodeRequest({ service: 'TransferData', blockSequenceCounter: bsc, data });
          const req = decodeRequest(bytes);
          if (req.service === 'TransferData') sink ^= req.data.length ^ req.blockSequenceCounter;
          bsc = (bsc + 1) & 0xff; // ISO 14229-1 §14.4: the counter wraps 0xFF → 0x00
        }
      },
      1000,
      BATCH,
    );

    const copy = opsPerSecond(
      () => {
        for (let i = 0; i < BATCH; i++) sink ^= Buffer.from(message).length;
      },
      1000,
      BATCH,
    );

    if (sink === -1) console.log(sink); // never true; reads `sink` once more
    return [
      {
        name: `UDS TransferData encode+decode (BSC + ${BLOCK} B)`,
        value: codec,
        unit: 'messages/s',
        baseline: { name: `Buffer.from copy of the same ${message.length} bytes`, value: copy, unit: 'copies/s' },
        ratio: codec / copy,
      },
    ];
  },
};
