import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import { decodeFrame, type IsoTpFrame } from '../../../src/protocol/isotp/frame.js';
import { IsoTpReassembler, type ReassemblyOutput } from '../../../src/protocol/isotp/reassembler.js';
import { planSegmentation, segmentMessage } from '../../../src/protocol/isotp/segment.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const range = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

/** A UDS positive response to ReadDataByIdentifier 0xF190: 62 F1 90 + 17-character VIN = 20 bytes. */
const vinResponse = Uint8Array.of(0x62, 0xf1, 0x90, ...ascii('W0L000051T2123456'));

function feedHex(r: IsoTpReassembler, hex: string): readonly ReassemblyOutput[] {
  const data = parseHex(hex);
  const frame = decodeFrame(data);
  assert.notEqual(frame.type, 'FC');
  return r.feed(frame as Exclude<IsoTpFrame, { type: 'FC' }>, data.length);
}

const codes = (outs: readonly ReassemblyOutput[]) =>
  outs.map((o) => (o.kind === 'aborted' || o.kind === 'ignored' ? `${o.kind}:${o.error.code}` : o.kind));

describe('segmentMessage', () => {
  it('cuts the 20-byte VIN response into FF 10 14 … and CFs 21 …, 22 … (ISO 15765-2:2016 §9.6)', () => {
    const frames = [...segmentMessage(vinResponse)].map((f) => toHex(f));
    assert.deepEqual(frames, [
      '10 14 62 F1 90 57 30 4C', // FF: FF_DL 0x014 = 20; 62 F1 90 "W0L"
      '21 30 30 30 30 35 31 54', // CF SN 1: "000051T"
      '22 32 31 32 33 34 35 36', // CF SN 2: "2123456" (exactly fills the frame: no padding)
    ]);
  });

  it('sends a short message as one SF and pads the last CF', () => {
    assert.deepEqual([...segmentMessage(Uint8Array.of(0x3e, 0x00))].map((f) => toHex(f)), ['02 3E 00 CC CC CC CC CC']);
    const frames = [...segmentMessage(range(14))].map((f) => toHex(f));
    assert.deepEqual(frames, ['10 0E 00 01 02 03 04 05', '21 06 07 08 09 0A 0B 0C', '22 0D CC CC CC CC CC CC']);
    const unpadded = [...segmentMessage(range(14), { padding: null })].map((f) => toHex(f));
    assert.equal(unpadded[2], '22 0D');
  });

  it('wraps SN from 15 to 0 (§9.6.4.3)', () => {
    const frames = [...segmentMessage(range(6 + 7 * 17))];
    const sns = frames.slice(1).map((f) => (f[0] as number) & 0x0f);
    assert.deepEqual(sns, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1]);
  });

  it('uses the 32-bit FF_DL escape above 4095 bytes', () => {
    const frames = [...segmentMessage(range(5000))];
    assert.equal(toHex((frames[0] as Uint8Array).subarray(0, 6)), '10 00 00 00 13 88');
    assert.equal(frames.length, 1 + Math.ceil((5000 - 2) / 7));
    assert.deepEqual(planSegmentation(5000), { single: false, consecutiveFrames: Math.ceil(4998 / 7) });
  });

  it('fills CAN FD frames up to TX_DL', () => {
    const frames = [...segmentMessage(range(200), { txDl: 64 })];
    // FF: 2 PCI + 62 data; CFs: 63 + 63; last CF: 200 − 62 − 126 = 12 bytes + PCI = 13 → next CAN FD length 16
    assert.deepEqual(
      frames.map((f) => f.length),
      [64, 64, 64, 16],
    );
  });

  it('refuses an empty message', () => {
    assert.throws(() => [...segmentMessage(new Uint8Array(0))], (e: unknown) => e instanceof OtaError && e.code === 'ISOTP_VALUE_RANGE');
  });
});

describe('IsoTpReassembler', () => {
  it('reassembles the VIN response, answering the FF with FC CTS BS 0 STmin 0', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    const ff = feedHex(r, '10 14 62 F1 90 57 30 4C');
    assert.deepEqual(ff, [{ kind: 'flow-control', frame: { type: 'FC', status: 'CTS', blockSize: 0, stMin: 0 } }]);
    assert.equal(r.receiving, true);
    assert.deepEqual(feedHex(r, '21 30 30 30 30 35 31 54'), []);
    assert.deepEqual(feedHex(r, '22 32 31 32 33 34 35 36'), [{ kind: 'message', payload: vinResponse }]);
    assert.equal(r.receiving, false);
  });

  it('sends a new FC CTS after every BS consecutive frames (§9.6.5.3)', () => {
    const r = new IsoTpReassembler({ maxLength: 4095, blockSize: 2, stMin: 0x05 });
    const frames = [...segmentMessage(range(40))].map((f) => toHex(f));
    const kinds = frames.map((hex) => feedHex(r, hex).map((o) => o.kind).join(','));
    // FF → FC; CF1; CF2 → FC; CF3; CF4 → FC; CF5 completes 40 = 6 + 5·7 − 1 bytes
    assert.deepEqual(kinds, ['flow-control', '', 'flow-control', '', 'flow-control', 'message']);
  });

  it('aborts with ISOTP_WRONG_SN on a skipped sequence number (§9.6.4.3)', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    feedHex(r, '10 0A 00 01 02 03 04 05');
    assert.deepEqual(codes(feedHex(r, '22 06 07 08 09 CC CC CC')), ['aborted:ISOTP_WRONG_SN']);
    assert.equal(r.receiving, false);
  });

  it('answers a FF above its buffer with FC OVFLW and reports ISOTP_OVERFLOW', () => {
    const r = new IsoTpReassembler({ maxLength: 100 });
    const out = feedHex(r, '10 65 00 01 02 03 04 05');
    assert.deepEqual(out[0], { kind: 'flow-control', frame: { type: 'FC', status: 'OVFLW', blockSize: 0, stMin: 0 } });
    assert.deepEqual(codes(out), ['flow-control', 'aborted:ISOTP_OVERFLOW']);
    assert.equal(r.receiving, false);
  });

  it('ignores a CF with no reception in progress (§9.8.3)', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    assert.deepEqual(codes(feedHex(r, '21 00 00 00 00 00 00 00')), ['ignored:ISOTP_UNEXPECTED_PDU']);
  });

  it('aborts the reception in progress on a new SF or FF, then processes it (§9.8.3)', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    feedHex(r, '10 0A 00 01 02 03 04 05');
    assert.deepEqual(codes(feedHex(r, '02 3E 00')), ['aborted:ISOTP_UNEXPECTED_PDU', 'message']);
    feedHex(r, '10 0A 00 01 02 03 04 05');
    assert.deepEqual(codes(feedHex(r, '10 0B 00 01 02 03 04 05')), ['aborted:ISOTP_UNEXPECTED_PDU', 'flow-control']);
    assert.equal(r.progress?.length, 11);
  });

  it('ignores a CF shorter than RX_DL unless it is the last one, and one too short for the rest', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    feedHex(r, '10 14 00 01 02 03 04 05');
    assert.deepEqual(codes(feedHex(r, '21 06 07')), ['ignored:ISOTP_FRAME_LENGTH']);
    assert.deepEqual(feedHex(r, '21 06 07 08 09 0A 0B 0C'), []);
    assert.deepEqual(codes(feedHex(r, '22 0D 0E')), ['ignored:ISOTP_FRAME_LENGTH']);
    assert.deepEqual(codes(feedHex(r, '22 0D 0E 0F 10 11 12 13')), ['message']);
  });

  it('takes RX_DL from the FF: CFs of a CAN FD FF must match its CAN_DL (§9.6.3.1)', () => {
    const r = new IsoTpReassembler({ maxLength: 4095 });
    const frames = [...segmentMessage(range(100), { txDl: 16 })];
    const [ff, cf1] = frames as [Uint8Array, Uint8Array];
    r.feed(decodeFrame(ff) as Exclude<IsoTpFrame, { type: 'FC' }>, ff.length);
    const short = cf1.subarray(0, 12);
    assert.deepEqual(codes(r.feed(decodeFrame(short) as Exclude<IsoTpFrame, { type: 'FC' }>, 12)), ['ignored:ISOTP_FRAME_LENGTH']);
  });

  it('reassembles whatever segmentMessage produced, for any payload, TX_DL, padding and BS', () => {
    const arb = fc.record({
      payload: fc.uint8Array({ minLength: 1, maxLength: 600 }),
      txDl: fc.constantFrom(8, 12, 16, 20, 24, 32, 48, 64),
      padding: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }),
      blockSize: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(arb, ({ payload, txDl, padding, blockSize }) => {
        const r = new IsoTpReassembler({ maxLength: 4095, blockSize });
        const outs: ReassemblyOutput[] = [];
        for (const data of segmentMessage(payload, { txDl, padding })) {
          outs.push(...r.feed(decodeFrame(data) as Exclude<IsoTpFrame, { type: 'FC' }>, data.length));
        }
        const messages = outs.filter((o) => o.kind === 'message');
        assert.equal(messages.length, 1);
        assert.deepEqual(messages[0], { kind: 'message', payload });
        assert.ok(outs.every((o) => o.kind === 'message' || o.kind === 'flow-control'));
      }),
      { numRuns: 2_000 },
    );
  });

  it('only reports typed errors for random frame sequences (10,000 cases)', () => {
    const arb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }), { maxLength: 12 });
    fc.assert(
      fc.property(arb, (frames) => {
        const r = new IsoTpReassembler({ maxLength: 4095, blockSize: 2 });
        for (const data of frames) {
          let frame: IsoTpFrame;
          try {
            frame = decodeFrame(data);
          } catch (e) {
            assert.ok(e instanceof OtaError);
            continue;
          }
          if (frame.type === 'FC') continue;
          for (const out of r.feed(frame, data.length)) {
            if (out.kind === 'aborted' || out.kind === 'ignored') assert.ok(out.error instanceof OtaError);
          }
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
