/**
 * Rig for the update-flow tests: the fleet PKI of ../harness.ts plus a release certificate, the
 * project's embedded broker (startBroker: mutual TLS, ACL), a real virtual ECU (createVirtualEcu, its
 * NVM in a temp directory, factory application 1.0.0-factory, trusting the fleet CA) on a VirtualCanBus
 * behind ISO-TP, a gateway that can be killed and restarted on the same data directory, and a scripted
 * manager that offers jobs and streams chunks under the window.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../../src/broker/index.js';
import { factoryProgram } from '../../../src/cli/sim/factory.js';
import { bindCanNode, ECU_CAN_IDS, type CanNode } from '../../../src/ecu/links/can-node.js';
import { openNvm, type EcuNvm } from '../../../src/ecu/nvm.js';
import { createVirtualEcu, type VirtualEcu } from '../../../src/ecu/server/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../../src/gateway/index.js';
import { createIsoTpLink } from '../../../src/gateway/links/isotp-link.js';
import { VirtualCanBus } from '../../../src/protocol/can/index.js';
import type { ControlMessage } from '../../../src/protocol/ota/messages.js';
import { bitmapFromBase64, encodeChunk, type UpdateAcceptMessage, type UpdateAckMessage, type UpdateOfferMessage, type UpdateStatusMessage } from '../../../src/protocol/ota/update-messages.js';
import { newAssignment, signAssignment, signManifest, type Manifest } from '../../../src/security/firmware/index.js';
import { issueCertificate, type Issued } from '../../../src/security/pki/index.js';
import { fleetFixture, ScriptedManager, type Fleet } from '../harness.js';

export const APP_START = 0x0800_2000;

export interface UpdateFixture {
  f: Fleet;
  release: Issued;
  broker: Broker;
  /** Temp root for ECU state and gateway data directories. */
  root: string;
  close(): Promise<void>;
}

export async function updateFixture(): Promise<UpdateFixture> {
  const f = await fleetFixture();
  const release = await issueCertificate(f.ca, { role: 'release', name: 'release-gw-update' });
  const broker = await startBroker({ caPem: f.ca.certPem, crlPem: f.crlPem, certPem: f.broker.certPem, keyPem: f.broker.keyPem, port: 0 });
  const root = mkdtempSync(join(tmpdir(), 'ota-gw-update-'));
  return {
    f,
    release,
    broker,
    root,
    close: async () => {
      await broker.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

let dirs = 0;
export function tempIn(fx: UpdateFixture, name: string): string {
  return join(fx.root, `${name}-${++dirs}`);
}

/** A virtual STM32F103 on its own CAN bus, factory-programmed, with a random SecurityAccess secret. */
export class TestEcu {
  readonly bus = new VirtualCanBus();
  readonly secret = Uint8Array.from(randomBytes(32));
  readonly nvm: EcuNvm;
  readonly ecu: VirtualEcu;
  private readonly node: CanNode;
  private links = 0;

  constructor(fx: UpdateFixture) {
    const dir = tempIn(fx, 'ecu');
    this.nvm = openNvm(dir, { identity: { serialNumber: 'SN-ENGINE-1' }, secret: this.secret });
    factoryProgram(this.nvm, dir, 'engine');
    this.ecu = createVirtualEcu({ nvm: this.nvm, trust: fx.f.trust });
    this.node = bindCanNode(this.bus.attach('engine'), this.ecu.handlerFor({ maxBlockLength: 0x0fff }), ECU_CAN_IDS.engine);
  }

  /** A tester link on this ECU's bus (a fresh bus node each time, as a restarted gateway would open). */
  link(): ReturnType<typeof createIsoTpLink> {
    return createIsoTpLink(this.bus.attach(`gateway-${++this.links}`), ECU_CAN_IDS.engine);
  }

  /** What a refusal must leave as it was: application bytes, descriptor, and the flash operation counts. */
  snapshot(): { app: string; descriptor: string; ops: string; mode: string } {
    const app = this.nvm.flash.layout.application;
    return {
      app: createHash('sha256').update(this.nvm.flash.read(app.start, app.end - app.start)).digest('hex'),
      descriptor: JSON.stringify(this.nvm.application.descriptor()),
      ops: JSON.stringify(this.nvm.flash.opCounts()),
      mode: this.ecu.mode,
    };
  }

  /** The running application's version (the descriptor the bootloader starts), or null. */
  get version(): string | null {
    return this.ecu.mode === 'application' ? (this.nvm.application.descriptor()?.version ?? null) : null;
  }

  close(): void {
    this.node.close();
    this.ecu.close();
  }
}

/** Starts a gateway for `ecu` (ECU `engine` on CAN 0x7E0) with `dataDir`; it connects in the background. */
export async function startGateway(fx: UpdateFixture, ecu: TestEcu, dataDir: string, extra: Partial<GatewayOptions> = {}): Promise<Gateway> {
  const g = createGateway({
    vehicleId: fx.f.vehicleId,
    certPem: fx.f.vehicle.certPem,
    keyPem: fx.f.vehicle.keyPem,
    caPem: fx.f.ca.certPem,
    crlPem: fx.f.crlPem,
    brokerUrl: fx.broker.url,
    ecus: [{ name: 'engine', link: 'can', address: '0x7E0', uds: ecu.link(), secret: ecu.secret }],
    dataDir,
    reconnect: { initialMs: 50, maxMs: 200 },
    uds: { marginMs: 1000 },
    ...extra,
  });
  await g.start();
  return g;
}

/** A signed release: deterministic image bytes and the manifest `ota firmware sign` would write. */
export interface Release {
  image: Uint8Array;
  signed: Uint8Array;
  manifest: Manifest;
}

export function makeRelease(fx: UpdateFixture, fields: Partial<Manifest> & { size?: number; seed?: number } = {}): Release {
  const { size = 6 * 1024, seed = 1, ...rest } = fields;
  const data = new Uint8Array(size);
  let x = (seed * 2_654_435_761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    data[i] = x & 0xff;
  }
  const manifest: Manifest = {
    hardwareId: 'stm32f103c8',
    version: '2.0.0',
    counter: 2,
    length: size,
    sha256: createHash('sha256').update(data).digest('hex'),
    loadAddress: APP_START,
    format: 'bin',
    ...rest,
  };
  return { image: data, signed: signManifest(manifest, fx.release), manifest };
}

/** An update.offer of `release` to ECU `ecu` (default engine) with a fresh signed assignment (override its vehicle, ECU, time). */
export function makeOffer(
  fx: UpdateFixture,
  release: Release,
  o: { jobId: string; chunkSize?: number; ecu?: string; vehicleId?: string; assignEcu?: string; ttlMs?: number; now?: Date; assignment?: Uint8Array },
): UpdateOfferMessage {
  const chunkSize = o.chunkSize ?? 512;
  const assignment =
    o.assignment ??
    signAssignment(
      newAssignment({ vehicleId: o.vehicleId ?? fx.f.vehicleId, ecu: o.assignEcu ?? o.ecu ?? 'engine', signedManifest: release.signed, ttlMs: o.ttlMs ?? 3_600_000, ...(o.now === undefined ? {} : { now: o.now }) }),
      fx.f.manager,
    );
  return {
    type: 'update.offer',
    jobId: o.jobId,
    ecu: o.ecu ?? 'engine',
    assignment: Buffer.from(assignment).toString('base64'),
    manifest: Buffer.from(release.signed).toString('base64'),
    chunkSize,
    chunks: Math.ceil(release.manifest.length / chunkSize),
  };
}

export const isAccept = (jobId: string) => (m: ControlMessage): m is UpdateAcceptMessage => m.type === 'update.accept' && m.jobId === jobId;
export const isAck = (jobId: string) => (m: ControlMessage): m is UpdateAckMessage => m.type === 'update.ack' && m.jobId === jobId;
export const isStatus = (jobId: string, phase?: UpdateStatusMessage['phase']) => (m: ControlMessage): m is UpdateStatusMessage =>
  m.type === 'update.status' && m.jobId === jobId && (phase === undefined || m.phase === phase);
export const isFinal = (jobId: string) => (m: ControlMessage): m is UpdateStatusMessage =>
  m.type === 'update.status' && m.jobId === jobId && (m.phase === 'done' || m.phase === 'failed');

/** The scripted manager plus the bulk side: chunks sealed on the session and sent under the window. */
export class UpdateManager extends ScriptedManager {
  /** Chunk indexes sent, in order. */
  readonly chunksSent: number[] = [];

  async sendChunk(jobId: string, index: number, data: Uint8Array): Promise<void> {
    if (this.channel?.state !== 'established') throw new Error('no session');
    const record = this.channel.seal(encodeChunk({ jobId, index, data }));
    this.chunksSent.push(index);
    await this.sendRaw('down/rec', record);
  }

  /**
   * Sends the chunks `accept` says are missing (or only `only`), keeping at most `accept.window`
   * unacknowledged; `tamper` may alter a chunk's bytes. Resolves after the last chunk is sent.
   */
  async download(release: Release, offer: UpdateOfferMessage, accept: UpdateAcceptMessage, o: { only?: number[]; tamper?: (index: number, data: Uint8Array) => Uint8Array } = {}): Promise<UpdateAckMessage[]> {
    const have = bitmapFromBase64(accept.have, offer.chunks);
    const held = (i: number): boolean => (((have[i >> 3] ?? 0) >> (i & 7)) & 1) === 1;
    const initial = Array.from({ length: offer.chunks }, (_, i) => i).filter(held).length;
    const missing = o.only ?? Array.from({ length: offer.chunks }, (_, i) => i).filter((i) => !held(i));
    const acks: UpdateAckMessage[] = [];
    let sent = 0;
    let acked = 0;
    for (const i of missing) {
      while (sent - acked >= accept.window) {
        const ack = await this.next(isAck(offer.jobId), 10_000);
        acks.push(ack);
        acked = ack.received - initial;
      }
      const data = release.image.subarray(i * offer.chunkSize, Math.min(release.image.length, (i + 1) * offer.chunkSize));
      await this.sendChunk(offer.jobId, i, o.tamper ? o.tamper(i, Uint8Array.from(data)) : data);
      sent++;
    }
    return acks;
  }

  /** Every message received so far for `jobId` (not consumed). */
  seen(jobId: string): ControlMessage[] {
    return this.received.filter((m) => 'jobId' in m && m.jobId === jobId);
  }
}
