/**
 * One virtual ECU of a simulated vehicle on the vehicle's CAN bus: its NVM in a state directory
 * (factory-programmed when new), the UDS server, and the ISO-TP node that binds it to the bus.
 */
import type { Clock } from '../../protocol/clock.js';
import type { VirtualCanBus } from '../../protocol/can/index.js';
import { DEFAULT_FLASH_TIMING } from '../../ecu/flash-timing.js';
import { openNvm } from '../../ecu/nvm.js';
import { bindCanNode } from '../../ecu/links/can-node.js';
import { createVirtualEcu, type VirtualEcu } from '../../ecu/server/index.js';
import type { GatewayLog } from '../../gateway/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { FUNCTIONAL_CAN_ID, type SimEcuSpec } from './ecu-spec.js';
import { factoryProgram } from './factory.js';

export interface EcuNodeOptions {
  bus: VirtualCanBus;
  spec: Extract<SimEcuSpec, { link: 'can' }>;
  stateDir: string;
  vehicleId: string;
  /** Fleet trust the bootloader checks release certificates against. */
  trust: TrustStore;
  clock: Clock;
  factoryApplication: boolean;
  /** Physical flash timing (page erase 22 ms, half-word 52.5 µs; src/ecu/flash-timing.ts); default off. */
  flashTiming?: boolean;
  /** Re-provision an ECU that lost state.json or flash.bin (refused otherwise; src/ecu/nvm.ts), logged. */
  reprovision?: boolean;
  log?: GatewayLog;
}

export interface EcuNode {
  readonly name: string;
  readonly ecu: VirtualEcu;
  /** The ECU's SecurityAccess secret (its own random one, src/ecu/secret.ts), for the gateway to flash it. */
  readonly secret: Uint8Array;
  /** Where the ECU keeps it (`<stateDir>/security-secret`, 0600), and whether this start made it. */
  readonly secretFile: string | undefined;
  readonly secretCreated: boolean;
  close(): void;
}

/** A 17-character VIN for the simulator from the vehicle id (upper-case letters and digits, padded with 0). */
export function simulatedVin(vehicleId: string): string {
  return (vehicleId.toUpperCase().replace(/[^A-Z0-9]/g, '') + '0'.repeat(17)).slice(0, 17);
}

/** Opens (or creates) the ECU in `stateDir`, powers it on and attaches it to the bus. */
export function createEcuNode(o: EcuNodeOptions): EcuNode {
  const nvm = openNvm(o.stateDir, {
    clock: o.clock,
    timing: o.flashTiming === true ? DEFAULT_FLASH_TIMING : null,
    identity: { vin: simulatedVin(o.vehicleId), serialNumber: `${o.vehicleId}-${o.spec.name}`.slice(0, 32) },
    ...(o.reprovision === true ? { reprovision: true, log: (line: string) => o.log?.warn(`${o.vehicleId}: ${line}`) } : {}),
  });
  let ecu: VirtualEcu;
  try {
    if (o.factoryApplication && factoryProgram(nvm, o.stateDir, o.spec.name)) {
      o.log?.info(`${o.vehicleId}: ECU ${o.spec.name} factory-programmed with the demo application`);
    }
    ecu = createVirtualEcu({ nvm, clock: o.clock, trust: o.trust });
  } catch (e) {
    nvm.close();
    throw e;
  }
  const node = o.bus.attach(o.spec.name);
  const can = bindCanNode(node, ecu.handler, { requestId: o.spec.requestId, responseId: o.spec.responseId, functionalId: FUNCTIONAL_CAN_ID, clock: o.clock });
  let closed = false;
  return {
    name: o.spec.name,
    ecu,
    secret: nvm.securitySecret.secret,
    secretFile: nvm.securitySecret.file,
    secretCreated: nvm.securitySecret.created,
    close: () => {
      if (closed) return;
      closed = true;
      can.close();
      node.detach();
      ecu.close();
      nvm.close();
    },
  };
}
