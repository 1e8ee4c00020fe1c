/**
 * A virtual ECU and a tester `UdsClient` joined by a real link: DoIP on a TCP socket of 127.0.0.1
 * (ephemeral port), or ISO-TP on the virtual CAN bus (0x7E0 / 0x7E8). Same ECU, same client, two wires.
 */
import { randomBytes } from 'node:crypto';
import { VirtualCanBus, type CanBitTiming } from '../../src/protocol/can/index.js';
import type { Clock } from '../../src/protocol/clock.js';
import { createVirtualEcu, type VirtualEcu, type VirtualEcuOptions } from '../../src/ecu/server/index.js';
import { startDoipServer, type DoipServer } from '../../src/ecu/links/doip-server.js';
import { bindCanNode, ECU_CAN_IDS } from '../../src/ecu/links/can-node.js';
import { connectDoipLink } from '../../src/gateway/links/doip-client.js';
import { createIsoTpLink } from '../../src/gateway/links/isotp-link.js';
import { UdsClient, type UdsClientOptions } from '../../src/gateway/uds/client.js';
import { trustStoreFromPem } from '../../src/security/pki/index.js';

export type LinkKind = 'doip' | 'can';

export interface Rig {
  kind: LinkKind;
  ecu: VirtualEcu;
  client: UdsClient;
  /** The SecurityAccess secret the ECU was built with. */
  secret: Uint8Array;
  /** A fresh client on a new link to the same ECU (the flash's `reconnect`). */
  connect(): Promise<UdsClient>;
  close(): Promise<void>;
}

export interface RigOptions {
  caPem: string;
  ecu?: Omit<VirtualEcuOptions, 'trust' | 'secret'>;
  client?: UdsClientOptions;
  /** CAN only: the bus timing model and its clock. */
  can?: { timing?: CanBitTiming | false; clock?: Clock };
}

/** DoIP logical address of the engine ECU (ARCHITECTURE.md §3). */
export const ENGINE_ADDRESS = 0x0010;
/** maxNumberOfBlockLength a DoIP link can carry in one diagnostic message (4100-byte payload − 4 address bytes). */
export const DOIP_MAX_BLOCK = 4096;
/** maxNumberOfBlockLength on classic CAN: one ISO-TP message is at most 4095 bytes. */
export const CAN_MAX_BLOCK = 0x0fff;

/**
 * Client margin of the integration tests: they check behaviour, not timing, and the machine is shared,
 * so an event-loop stall must not turn into a P2 timeout.
 */
export const TEST_CLIENT_OPTIONS: UdsClientOptions = { marginMs: 1000 };

export async function makeRig(kind: LinkKind, input: RigOptions): Promise<Rig> {
  const options = { ...input, client: { ...TEST_CLIENT_OPTIONS, ...input.client } };
  const secret = Uint8Array.from(randomBytes(32));
  const trust = await trustStoreFromPem(options.caPem);
  const ecu = createVirtualEcu({ ...options.ecu, trust, secret });
  return kind === 'doip' ? doipRig(ecu, secret, options) : canRig(ecu, secret, options);
}

async function doipRig(ecu: VirtualEcu, secret: Uint8Array, options: RigOptions): Promise<Rig> {
  let server: DoipServer;
  try {
    server = await startDoipServer({ targets: new Map([[ENGINE_ADDRESS, ecu.handlerFor({ maxBlockLength: DOIP_MAX_BLOCK })]]), host: '127.0.0.1', port: 0 });
  } catch (e) {
    ecu.close();
    throw e;
  }
  const clients: UdsClient[] = [];
  const connect = async (): Promise<UdsClient> => {
    const link = await connectDoipLink({ host: '127.0.0.1', port: server.address.port, targetAddress: ENGINE_ADDRESS });
    const client = new UdsClient(link, options.client);
    clients.push(client);
    return client;
  };
  const client = await connect();
  return {
    kind: 'doip',
    ecu,
    client,
    secret,
    connect,
    close: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await server.close();
      ecu.close();
    },
  };
}

function canRig(ecu: VirtualEcu, secret: Uint8Array, options: RigOptions): Rig {
  const clock = options.can?.clock;
  const bus = new VirtualCanBus({ timing: options.can?.timing ?? false, ...(clock === undefined ? {} : { clock }) });
  const ids = ECU_CAN_IDS.engine;
  const node = bindCanNode(bus.attach('ecu'), ecu.handlerFor({ maxBlockLength: CAN_MAX_BLOCK }), { ...ids, ...(clock === undefined ? {} : { clock }) });
  const clients: UdsClient[] = [];
  const connect = (): Promise<UdsClient> => {
    const link = createIsoTpLink(bus.attach('tester'), { ...ids, ...(clock === undefined ? {} : { clock }) });
    const client = new UdsClient(link, options.client);
    clients.push(client);
    return Promise.resolve(client);
  };
  const client = new UdsClient(createIsoTpLink(bus.attach('tester'), { ...ids, ...(clock === undefined ? {} : { clock }) }), options.client);
  clients.push(client);
  return {
    kind: 'can',
    ecu,
    client,
    secret,
    connect,
    close: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      node.close();
      ecu.close();
    },
  };
}
