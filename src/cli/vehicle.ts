/**
 * `ota vehicle --id <V> [--pki <dir>] [--broker <url>] [--data <dir>] [--ecu name=<where> …]`: runs one
 * simulated vehicle (gateway + ECUs, src/cli/sim/vehicle.ts) as its own process until SIGINT/SIGTERM.
 * Prints one line when it is online, one per secure session and per lost connection, one when stopped.
 * The vehicle certificate must already exist in the PKI directory (`ota pki issue --role vehicle`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { OtaError } from '../protocol/errors.js';
import type { GatewayLog } from '../gateway/index.js';
import { resolveDataDir } from '../manager/paths.js';
import type { VehicleView } from '../manager/index.js';
import { ApiClient } from './api-client.js';
import { processIo, type CliIo } from './pki.js';
import { startSimulatedVehicle } from './sim/vehicle.js';
import { writeErr } from './terminal.js';
import { stderrLog } from '../manager/log.js';
import { installRejectionGuard } from './guard.js';

export const DEFAULT_BROKER_URL = 'mqtts://127.0.0.1:8883';

export interface VehicleCommandOptions {
  id: string;
  pki?: string;
  broker?: string;
  data?: string;
  ecu?: string[];
  verbose?: boolean;
  /** Physical timing model: CAN 500 kbit/s and datasheet flash timing (a flash takes seconds, as on the part). */
  physicalTiming?: boolean;
  /** Update download window (chunks the manager may keep unacknowledged; a tuning / test knob). */
  updateWindow?: number;
  reprovisionEcus?: boolean;
  /** The manager identities (certificate CNs) this vehicle accepts; default `manager`. */
  manager?: string[];
}

/** An update window 1..1024. */
export function parseWindow(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1024) throw new InvalidArgumentError('expected a window of 1-1024 chunks');
  return Number(value);
}

/** connected-system.md §Data directory: `--data`, else `$OTA_HOME`, else `./.ota`. */
export function dataDirOf(data: string | undefined): string {
  return data ?? process.env['OTA_HOME'] ?? '.ota';
}

/** The broker: `--broker`, else the one a running manager wrote to `<data>/manager.json`, else the default. */
export function brokerUrlOf(broker: string | undefined, dataDir: string): string {
  if (broker !== undefined) return broker;
  const file = join(dataDir, 'manager.json');
  if (existsSync(file)) {
    try {
      const written = (JSON.parse(readFileSync(file, 'utf8')) as { broker?: unknown }).broker;
      if (typeof written === 'string' && written.length > 0) return written;
    } catch {
      // An unreadable manager.json is no reason not to try the default.
    }
  }
  return DEFAULT_BROKER_URL;
}

/**
 * Runs the vehicle until `signal` aborts, then stops it gracefully (`offline` published, ECU state on
 * disk). Rejects (SIM_NO_CERTIFICATE, SIM_ECU_SPEC, GW_INSECURE_BROKER, …) if it cannot start.
 */
export async function runVehicle(opts: VehicleCommandOptions, io: CliIo, signal: AbortSignal, err: CliIo = { out: writeErr }): Promise<void> {
  const dataDir = dataDirOf(opts.data);
  const pkiDir = opts.pki ?? join(dataDir, 'pki');
  const brokerUrl = brokerUrlOf(opts.broker, dataDir);
  const log: GatewayLog = {
    info: (m) => {
      if (opts.verbose === true) err.out(`${m}\n`);
    },
    warn: (m) => err.out(`warning: ${m}\n`),
  };
  const vehicle = await startSimulatedVehicle({
    vehicleId: opts.id,
    pkiDir,
    brokerUrl,
    dataDir,
    ...(opts.ecu === undefined ? {} : { ecus: opts.ecu }),
    log,
    physicalTiming: opts.physicalTiming === true,
    ...(opts.reprovisionEcus === true ? { reprovisionEcus: true } : {}),
    gateway: {
      ...(opts.updateWindow === undefined ? {} : { update: { window: opts.updateWindow } }),
      ...(opts.manager === undefined ? {} : { managerIdentity: opts.manager }),
    },
  });
  const g = vehicle.gateway;
  const ecus = vehicle.specs.map((s) => (s.link === 'can' ? `${s.name} can 0x${s.requestId.toString(16).toUpperCase()}` : `${s.name} doip ${s.host}:${s.port}`)).join(', ');
  let onlineOnce = false;
  g.on('connected', () => {
    io.out(onlineOnce ? `vehicle ${opts.id} online again at ${brokerUrl}\n` : `vehicle ${opts.id} online at ${brokerUrl} (ECUs: ${ecus})\n`);
    onlineOnce = true;
  });
  g.on('established', ({ sessionId, suite }) => io.out(`vehicle ${opts.id}: secure session ${sessionId} with the manager (${suite})\n`));
  g.on('disconnected', (reason) => io.out(`vehicle ${opts.id} offline (${reason}); reconnecting\n`));
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  g.removeAllListeners();
  await vehicle.close();
  io.out(`vehicle ${opts.id} stopped\n`);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerVehicle(program: Command, io: CliIo = processIo): void {
  const vehicle = program.command('vehicle');
  // `ota vehicle approve <id>`: admit a vehicle the manager holds pending (docs/operations.md, "Revocation").
  vehicle
    .command('approve <vehicleId>')
    .description('approve a vehicle the manager holds pending (a valid certificate the fleet registry did not know)')
    .option('--data <dir>', 'data directory of the manager (default $OTA_HOME or ./.ota)')
    .action(async (id: string, opts: { data?: string }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const v = await client.request<VehicleView>('POST', `/vehicles/${encodeURIComponent(id)}/approve`);
      io.out(`vehicle ${JSON.stringify(v.id)} approved (${v.online ? 'online' : 'offline'})\n`);
    });
  vehicle
    .description('run one simulated vehicle (gateway + virtual ECUs on a virtual CAN bus, or external DoIP ECUs) until SIGINT/SIGTERM')
    // Checked in the action, not by commander: a required option here would also be required of `approve`.
    .option('--id <vehicleId>', 'vehicle id (the CN of its certificate); required')
    .option('--pki <dir>', 'PKI directory with <id>.pem/.key, ca.pem, crl.pem (default <data>/pki)')
    .option('--broker <url>', `broker URL, mqtts:// only (default: <data>/manager.json, else ${DEFAULT_BROKER_URL})`)
    .option('--data <dir>', 'data directory; ECU state in <data>/vehicles/<id>/ecus/<name>/ (default $OTA_HOME, else ./.ota)')
    .option('--ecu <name=where>', 'an ECU: engine=can, aux=can://0x7E2/0x7EA, engine=doip://127.0.0.1:13400[/0x0010] (repeatable; default engine=can body=can)', collect)
    .option('--verbose', 'log connection and session details to stderr')
    .option('--reprovision-ecus', 're-provision ECUs whose state.json or flash.bin was lost (refused otherwise: ECU_STATE_MISSING / FLASH_STATE_MISSING); logged, the rollback floor kept')
    .option('--physical-timing', 'physical timing model: CAN 500 kbit/s with bit stuffing, datasheet flash erase/program times')
    .option('--manager <cn>', 'a manager identity (certificate CN) this vehicle accepts; repeatable (default: manager)', collect)
    .option('--update-window <chunks>', 'firmware download window the gateway grants (default 32; a tuning / test knob)', parseWindow)
    .action(async (opts: Partial<VehicleCommandOptions>) => {
      installRejectionGuard(stderrLog('warn'));
      const id = opts.id;
      if (id === undefined) return vehicle.error("error: required option '--id <vehicleId>' not specified", { code: 'commander.missingMandatoryOptionValue', exitCode: 2 });
      if (id.length === 0) throw new OtaError('SIM_CONFIG', '--id must not be empty');
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await runVehicle({ ...opts, id }, io, stop.signal);
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
}
