/**
 * The physical lower bound of flashing an image into the virtual STM32F103 of a simulated vehicle
 * (bench/flash-bound.ts), from the UDS messages of the flash sequence recorded in a reference flash with
 * timing off, against an ECU announcing the simulator's maxNumberOfBlockLength 0x0802.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bindCanNode } from '../src/ecu/links/can-node.js';
import { createVirtualEcu } from '../src/ecu/server/index.js';
import { createIsoTpLink } from '../src/gateway/links/isotp-link.js';
import { UdsClient } from '../src/gateway/uds/client.js';
import { flashEcu } from '../src/gateway/uds/flash.js';
import { VirtualCanBus } from '../src/protocol/can/index.js';
import { signManifest } from '../src/security/firmware/index.js';
import { loadIssued, trustStoreFromPem } from '../src/security/pki/index.js';
import { IDS, lowerBounds, recording, type FlashBound, type Message } from './flash-bound.js';

export type { FlashBound } from './flash-bound.js';

const APP_START = 0x0800_2000;

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
  return lowerBounds(await referenceMessages(data, pkiDir), { address: APP_START, length: data.length });
}
