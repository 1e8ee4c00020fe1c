/**
 * A simulated vehicle: a gateway plus its ECUs — virtual STM32F103 ECUs on one virtual CAN bus (ISO-TP,
 * ARCHITECTURE §3 ids, functional 0x7DF) and/or external ECUs reached over DoIP. The CLI is the only
 * place allowed to wire gateway and virtual ECUs together (ARCHITECTURE §6); `ota vehicle` runs one of
 * these as its own process and `ota up` a fleet of them.
 *
 * State: each virtual ECU keeps its flash and NVM in `<dataDir>/vehicles/<V>/ecus/<name>/`, so a
 * restarted vehicle finds its ECUs as it left them. A new ECU is factory-programmed with a demo
 * application (factory.ts) unless `factoryApplication: false`. The gateway keeps its update store in
 * `<dataDir>/vehicles/<V>/gateway/` (update jobs, images, last-good images) and knows each virtual
 * ECU's SecurityAccess secret (each ECU's own random one, `<ecu dir>/security-secret`), so it can flash them.
 * Its update store group-commits downloaded chunks (`update.groupCommit`; override through `gateway.update`).
 */
import { join } from 'node:path';
import { ecuFileFault, loadVehicleCredentials, type VehicleCredentials } from './credentials.js';
import { createEcuNode } from './ecu-node.js';
import { defaultEcuSpecs, ecuAddress, parseEcuSpec, type SimEcuSpec } from './ecu-spec.js';
import { OtaError } from '../../protocol/errors.js';
import { DEFAULT_CAN_BIT_RATE, VirtualCanBus } from '../../protocol/can/index.js';
import { systemClock, type Clock } from '../../protocol/clock.js';
import type { VirtualEcu } from '../../ecu/server/index.js';
import { createGateway, createLazyLink, type Gateway, type GatewayEcu, type GatewayLog, type GatewayOptions } from '../../gateway/index.js';
import { createIsoTpLink } from '../../gateway/links/isotp-link.js';
import { DoipClient } from '../../gateway/links/doip-client.js';
import { trustStoreFromPem } from '../../security/pki/index.js';

export { loadVehicleCredentials, VehicleFileError, type VehicleCredentials } from './credentials.js';

export interface SimulatedVehicleOptions {
  vehicleId: string;
  /** PKI directory of `ota pki` (reads and checks `<V>.pem`, `<V>.key`, `ca.pem`, `crl.pem`: credentials.ts); or give `credentials`. */
  pkiDir?: string;
  credentials?: VehicleCredentials;
  /** `mqtts://host:port`. */
  brokerUrl: string;
  /** Data directory; ECU state lives in `<dataDir>/vehicles/<V>/ecus/<name>/`. */
  dataDir: string;
  /** ECU specs (`engine=doip://127.0.0.1:13400`, see ecu-spec.ts) or parsed ones; default engine + body on CAN. */
  ecus?: ReadonlyArray<string | SimEcuSpec>;
  /** SecurityAccess secrets of external (DoIP) ECUs by name, so the gateway can flash them; virtual ECUs need none. */
  secrets?: Readonly<Record<string, Uint8Array>>;
  /** Program a demo application into new virtual ECUs (default true). */
  factoryApplication?: boolean;
  /**
   * The physical timing model (ARCHITECTURE §3): classic CAN 500 kbit/s with exact bit stuffing on the
   * virtual bus, and datasheet flash timing in the virtual ECUs. Default off (instant), as in unit tests.
   */
  physicalTiming?: boolean;
  /** Re-provision ECUs that lost state.json or flash.bin (refused otherwise), logged; the rollback floor is kept. */
  reprovisionEcus?: boolean;
  log?: GatewayLog;
  clock?: Clock;
  /** Further gateway settings (timers, UDS timing, reconnect backoff). */
  gateway?: Partial<Omit<GatewayOptions, 'vehicleId' | 'certPem' | 'keyPem' | 'caPem' | 'crlPem' | 'brokerUrl' | 'ecus' | 'clock' | 'log'>>;
}

export interface SimulatedVehicle {
  readonly vehicleId: string;
  readonly gateway: Gateway;
  /** The vehicle CAN bus (present when any ECU is virtual). */
  readonly bus: VirtualCanBus | undefined;
  /** The virtual ECUs by name (external DoIP ECUs are not here). */
  readonly ecus: ReadonlyMap<string, VirtualEcu>;
  /** The ECU specs in use. */
  readonly specs: readonly SimEcuSpec[];
  /** The virtual ECUs' SecurityAccess secrets by name (`ota up` keeps them in the manager's key store). */
  readonly ecuSecrets: ReadonlyMap<string, Uint8Array>;
  /** Stops the gateway (gracefully, or `abrupt` like a power loss), then the ECUs; their state stays on disk. */
  close(options?: { abrupt?: boolean }): Promise<void>;
}

/**
 * External ECUs behind one DoIP entity share one connection (an entity accepts few sockets): opened on
 * first use, reopened on the next request after it closed.
 */
class DoipEntity {
  private client: Promise<DoipClient> | undefined;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  private connect(): Promise<DoipClient> {
    if (this.closed) return Promise.reject(new OtaError('DOIP_CONNECTION_CLOSED', 'the vehicle is closed'));
    if (this.client !== undefined) return this.client;
    const attempt = DoipClient.connect({ host: this.host, port: this.port }).then(
      (client) => {
        client.onClose(() => {
          if (this.client === attempt) this.client = undefined;
        });
        return client;
      },
      (e: unknown) => {
        if (this.client === attempt) this.client = undefined;
        throw e;
      },
    );
    this.client = attempt;
    return attempt;
  }

  /** A link to the ECU at `logicalAddress` behind this entity. */
  link(logicalAddress: number): GatewayEcu['uds'] {
    return createLazyLink(async () => {
      const client = await this.connect();
      return { link: client.link(logicalAddress), onDown: (down) => void client.onClose(() => down()) };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const held = this.client;
    this.client = undefined;
    await held?.then((c) => c.close()).catch(() => undefined);
  }
}

/** Builds and starts a simulated vehicle; resolves once the gateway is connecting (not yet online). */
export async function startSimulatedVehicle(options: SimulatedVehicleOptions): Promise<SimulatedVehicle> {
  const { vehicleId } = options;
  const credentials = options.credentials ?? (options.pkiDir !== undefined ? loadVehicleCredentials(options.pkiDir, vehicleId) : undefined);
  if (credentials === undefined) throw new OtaError('SIM_NO_CERTIFICATE', `vehicle '${vehicleId}': give pkiDir or credentials`);
  const specs = (options.ecus ?? defaultEcuSpecs()).map((s) => (typeof s === 'string' ? parseEcuSpec(s) : s));
  if (new Set(specs.map((s) => s.name)).size !== specs.length) throw new OtaError('SIM_ECU_SPEC', 'ECU names must be distinct');
  const clock = options.clock ?? systemClock;
  const trust = await trustStoreFromPem(credentials.caPem, credentials.crlPem);
  const busTiming = options.physicalTiming === true ? { bitRate: DEFAULT_CAN_BIT_RATE, stuffing: 'exact' as const } : false;
  const bus = specs.some((s) => s.link === 'can') ? new VirtualCanBus({ clock, timing: busTiming }) : undefined;
  const nodes: Array<ReturnType<typeof createEcuNode>> = [];
  const gatewayEcus: GatewayEcu[] = [];
  const entities = new Map<string, DoipEntity>();
  const closeEntities = (): Promise<unknown> => Promise.all([...entities.values()].map((e) => e.close()));
  try {
    for (const spec of specs) {
      if (spec.link === 'can' && bus !== undefined) {
        const stateDir = join(options.dataDir, 'vehicles', vehicleId, 'ecus', spec.name);
        const node = createEcuNode({ bus, spec, stateDir, vehicleId, trust, clock, factoryApplication: options.factoryApplication ?? true, flashTiming: options.physicalTiming === true, reprovision: options.reprovisionEcus === true, ...(options.log === undefined ? {} : { log: options.log }) });
        nodes.push(node);
        const uds = createIsoTpLink(bus.attach(`gateway:${spec.name}`), { requestId: spec.requestId, responseId: spec.responseId, clock });
        gatewayEcus.push({ name: spec.name, link: 'can', address: ecuAddress(spec), uds, secret: node.secret });
      } else if (spec.link === 'doip') {
        const key = `${spec.host}:${spec.port}`;
        const entity = entities.get(key) ?? new DoipEntity(spec.host, spec.port);
        entities.set(key, entity);
        const secret = options.secrets?.[spec.name];
        gatewayEcus.push({ name: spec.name, link: 'doip', address: ecuAddress(spec), uds: entity.link(spec.logicalAddress), ...(secret === undefined ? {} : { secret }) });
      }
    }
  } catch (e) {
    for (const n of nodes) n.close();
    await Promise.all(gatewayEcus.map((g) => g.uds.close().catch(() => undefined)));
    await closeEntities();
    throw ecuFileFault(e, vehicleId);
  }
  const gateway = createGateway({
    dataDir: join(options.dataDir, 'vehicles', vehicleId, 'gateway'),
    ...options.gateway,
    // Group commit of downloaded chunks (src/gateway/README.md): one sync per acknowledgement, not per chunk.
    update: { groupCommit: true, ...options.gateway?.update },
    vehicleId,
    ...credentials,
    brokerUrl: options.brokerUrl,
    ecus: gatewayEcus,
    clock,
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  try {
    await gateway.start();
  } catch (e) {
    await gateway.close();
    await closeEntities();
    for (const n of nodes) n.close();
    throw e;
  }
  let closed = false;
  return {
    vehicleId,
    gateway,
    bus,
    ecus: new Map(nodes.map((n) => [n.name, n.ecu])),
    specs,
    ecuSecrets: new Map(nodes.map((n) => [n.name, n.secret])),
    async close(closeOptions = {}) {
      if (closed) return;
      closed = true;
      await gateway.close(closeOptions);
      await closeEntities();
      for (const n of nodes) n.close();
    },
  };
}
