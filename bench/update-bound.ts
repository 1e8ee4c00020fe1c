/**
 * The physical lower bound of flashing an image into the virtual STM32F103 of a simulated vehicle, computed
 * as bench/flash.ts computes it: the UDS messages of the flash sequence (recorded from a reference flash
 * with timing off, against an ECU announcing the simulator's maxNumberOfBlockLength 0x0802), each timed
 * on classic CAN 500 kbit/s with exact bit stuffing (its ISO-TP frames, plus one flow control when
 * segmented); page erase × tERASE; half-words × tprog; per TransferData block, max(bus time of its
 * exchange, its programming time) — transfer and programming overlapped. 0x78 pending and keep-alives are
 * not needed, so not counted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_FLASH_TIMING, flashTimeMs, imageFlashOps } from '../src/ecu/flash-timing.js';
import { bindCanNode, ECU_CAN_IDS } from '../src/ecu/links/can-node.js';
import { ecuFlashModel } from '../src/ecu/models.js';
import { createVirtualEcu } from '../src/ecu/server/index.js';
import { createIsoTpLink } from '../src/gateway/links/isotp-link.js';
import { UdsClient } from '../src/gateway/uds/client.js';
import { flashEcu } from '../src/gateway/uds/flash.js';
import { VirtualCanBus, canFrameTimeMs, type CanBitTiming } from '../src/protocol/can/index.js';
import { encodeFrame, segmentMessage, type IsoTpCodecOptions } from '../src/protocol/isotp/index.js';
import type { UdsLink } from '../src/protocol/uds/ports.js';
import { signManifest } from '../src/security/firmware/index.js';
import { loadIssued, trustStoreFromPem } from '../src/security/pki/index.js';

const BUS: CanBitTiming = { bitRate: 500_000, stuffing: 'exact' };
/** The links' ISO-TP settings (src/gateway/links/isotp-link.ts, src/ecu/links/can-node.ts). */
const CODEC: IsoTpCodecOptions = { txDl: 8, padding: 0xcc };
const IDS = ECU_CAN_IDS.engine;
const APP_START = 0x0800_2000;

interface Message {
  from: 'tester' | 'ecu';
  bytes: Uint8Array;
}

export interface FlashBound {
  busMs: number;
  eraseMs: number;
  programMs: number;
  /** bus + erase + program. */
  sequential: number;
  /** Erase + bus outside TransferData + Σ max(block exchange on the bus, block programming). */
  overlapped: number;
}

function messageBusMs(m: Message): number {
  const id = m.from === 'tester' ? IDS.requestId : IDS.responseId;
  const fcId = m.from === 'tester' ? IDS.responseId : IDS.requestId;
  let ms = 0;
  let frames = 0;
  for (const data of segmentMessage(m.bytes, CODEC)) {
    ms += canFrameTimeMs({ id, data }, BUS);
    frames++;
  }
  if (frames > 1) ms += canFrameTimeMs({ id: fcId, data: encodeFrame({ type: 'FC', status: 'CTS', blockSize: 0, stMin: 0 }, CODEC) }, BUS);
  return ms;
}

function recording(link: UdsLink, messages: Message[]): UdsLink {
  return {
    send: (request) => {
      if (!(request[0] === 0x3e && request[1] === 0x80)) messages.push({ from: 'tester', bytes: Uint8Array.from(request) });
      return link.send(request);
    },
    onResponse: (listener) =>
      link.onResponse((response) => {
        if (!(response[0] === 0x7f && response[2] === 0x78)) messages.push({ from: 'ecu', bytes: Uint8Array.from(response) });
        listener(response);
      }),
    close: () => link.close(),
  };
}

/** The messages of flashing `data` at the application start (reference run, timing off), signed with `<pkiDir>/release`. */
async function referenceMessages(data: Uint8Array, pkiDir: string): Promise<Message[]> {
  const trust = await trustStoreFromPem(await readFile(join(pkiDir, 'ca.pem'), 'utf8'));
  const secret = Uint8Array.from(randomBytes(32));
  const ecu = createVirtualEcu({ trust, secret });
  const bus = new VirtualCanBus();
  const node = bindCanNode(bus.attach('ecu'), ecu.handler, IDS);
  const messages: Message[] = [];
  const client = new UdsClient(recording(createIsoTpLink(bus.attach('tester'), IDS), messages));
  const manifest = { hardwareId: 'stm32f103c8', version: '1.0.0', counter: 1, length: data.length, sha256: createHash('sha256').update(data).digest('hex'), loadAddress: APP_START, format: 'bin' as const };
  try {
    await flashEcu(client, { image: { address: APP_START, data }, signedManifest: signManifest(manifest, await loadIssued(pkiDir, 'release')), secret });
    return messages;
  } finally {
    await client.close();
    node.close();
    ecu.close();
  }
}

/** The physical lower bound of flashing `data` (see the file comment). */
export async function flashLowerBound(data: Uint8Array, pkiDir: string): Promise<FlashBound> {
  const messages = await referenceMessages(data, pkiDir);
  const timing = DEFAULT_FLASH_TIMING;
  const eraseMs = flashTimeMs({ pagesErased: imageFlashOps(ecuFlashModel('stm32f103c8'), APP_START, data.length).pagesErased, halfWordsProgrammed: 0 }, timing);
  const programMs = flashTimeMs({ pagesErased: 0, halfWordsProgrammed: Math.ceil(data.length / 2) }, timing);
  let busMs = 0;
  let overlapped = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message;
    const t = messageBusMs(m);
    busMs += t;
    if (m.from === 'tester' && m.bytes[0] === 0x36) {
      const reply = messages[i + 1];
      const replyMs = reply === undefined ? 0 : messageBusMs(reply);
      busMs += replyMs;
      overlapped += Math.max(t + replyMs, flashTimeMs({ pagesErased: 0, halfWordsProgrammed: (m.bytes.length - 2) / 2 }, timing));
      i++;
    } else {
      overlapped += t;
    }
  }
  return { busMs, eraseMs, programMs, sequential: busMs + eraseMs + programMs, overlapped: overlapped + eraseMs };
}
