/**
 * The physical lower bound of a UDS flash over classic CAN, shared by the `flash` and `update` sections:
 *
 *   bus      the exact ISO-TP frames of every request and final response of the sequence (SF, or FF + CFs
 *            + one FC, as segmented by src/protocol/isotp with the links' settings: TX_DL 8, padding 0xCC,
 *            BS 0, STmin 0), each timed by `canFrameTimeMs` — the function the bus itself uses;
 *   erase    every page the image touches × tERASE;
 *   program  every half-word × tprog.
 *
 * Without overlap the bound is bus + erase + program; with transfer and programming overlapped it is
 * erase + bus outside TransferData + Σ over blocks max(bus time of the block's exchange, its programming
 * time). 0x78 pending and keep-alives are not needed, so not counted.
 */
import { canFrameTimeMs, type CanBitTiming } from '../src/protocol/can/index.js';
import { encodeFrame, segmentMessage, type IsoTpCodecOptions } from '../src/protocol/isotp/index.js';
import type { UdsLink } from '../src/protocol/uds/ports.js';
import { DEFAULT_FLASH_TIMING, flashTimeMs, imageFlashOps } from '../src/ecu/flash-timing.js';
import { ecuFlashModel } from '../src/ecu/models.js';
import { ECU_CAN_IDS } from '../src/ecu/links/can-node.js';

export const BUS: CanBitTiming = { bitRate: 500_000, stuffing: 'exact' };
/** The links' ISO-TP settings (src/gateway/links/isotp-link.ts, src/ecu/links/can-node.ts). */
export const CODEC: IsoTpCodecOptions = { txDl: 8, padding: 0xcc };
export const IDS = ECU_CAN_IDS.engine;

/** One UDS message as it crossed the bus, in order. */
export interface Message {
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

/** Bus time (ms) of one UDS message: its frames, plus the receiver's single FC (BS 0) if multi-frame. */
export function messageBusMs(m: Message): number {
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

/** Records the final messages of each exchange (not `7F xx 78`, not keep-alives) as they cross the link. */
export function recording(link: UdsLink, messages: Message[]): UdsLink {
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

/** The lower bounds of the recorded `messages` flashing `image` into an stm32f103c8. */
export function lowerBounds(messages: readonly Message[], image: { address: number; length: number }): FlashBound {
  const timing = DEFAULT_FLASH_TIMING;
  const eraseMs = flashTimeMs({ pagesErased: imageFlashOps(ecuFlashModel('stm32f103c8'), image.address, image.length).pagesErased, halfWordsProgrammed: 0 }, timing);
  const programMs = flashTimeMs({ pagesErased: 0, halfWordsProgrammed: Math.ceil(image.length / 2) }, timing);
  let busMs = 0;
  let overlapped = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message;
    const t = messageBusMs(m);
    busMs += t;
    if (m.from === 'tester' && m.bytes[0] === 0x36) {
      // A block's exchange (request + its response) overlaps with programming that block.
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
