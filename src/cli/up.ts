/**
 * `ota up`: the all-in-one start — the embedded broker (or an external one), the manager with its HTTP
 * API, and a fleet of simulated vehicles (gateway + virtual ECUs on a virtual CAN bus), all in this
 * process, in the foreground until SIGINT/SIGTERM. First start creates the data directory (up/setup.ts):
 * the PKI and the fleet's VINs; later starts reuse them, and the ECUs keep their state on disk.
 *
 * Ports: the API on 127.0.0.1:8080 and the broker on 127.0.0.1:8883 by default. A port in use is an
 * error (UP_PORT_IN_USE) naming the option to change; port 0 picks a free port, and the ports actually
 * bound are printed and written to `<data>/manager.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { startBroker, type Broker } from '../broker/index.js';
import { createManager, DEFAULT_API_HOST, resolveDataDir, stderrLog, type Manager } from '../manager/index.js';
import { isOtaError, OtaError } from '../protocol/errors.js';
import { SUITE_IDS, type SuiteName } from '../security/channel/index.js';
import { installRejectionGuard } from './guard.js';
import { parseBrokerUrl, parsePort } from './manager.js';
import { processIo, type CliIo } from './pki.js';
import { startSimulatedVehicle, VehicleFileError, type SimulatedVehicle } from './sim/vehicle.js';
import { ensureFleet, ensurePki, MAX_VEHICLES } from './up/setup.js';
import { readRunningManager, waitForFleet } from './up/wait.js';
import { writeErr } from './terminal.js';

export const SUITES = Object.keys(SUITE_IDS) as SuiteName[];

export interface UpOptions {
  vehicles?: number;
  data?: string;
  host: string;
  port: number;
  /** Plain HTTP on a non-loopback --host (default: HTTPS there). */
  insecureHttp?: boolean;
  brokerPort: number;
  externalBroker?: string;
  suite: SuiteName;
  initOnly?: boolean;
  verbose?: boolean;
  /** Start the manager with a new empty database (the old ota.db is kept beside it). */
  resetDatabase?: boolean;
  /** Re-provision simulated ECUs that lost state.json or flash.bin (logged; the rollback floor is kept). */
  reprovisionEcus?: boolean;
  /** How long to wait for every vehicle to connect and announce before printing the banner (default 20 s). */
  readyTimeoutMs?: number;
  /**
   * Output goes to a person's terminal (not a file or a pipe): only then, and only at the start that made
   * the API token, does the banner show the token itself. Default false.
   */
  interactive?: boolean;
}

/** A vehicle count 0..100. */
export function parseVehicleCount(value: string): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) > MAX_VEHICLES) throw new InvalidArgumentError(`expected a number of vehicles 0-${MAX_VEHICLES}`);
  return Number(value);
}

function portInUse(e: unknown, what: string, port: number, option: string): unknown {
  if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') return e;
  return new OtaError('UP_PORT_IN_USE', `port ${port} (${what}) is in use — another \`ota up\` or broker? Stop it, or choose another port with ${option} <port> (0 picks a free one)`, { cause: e });
}

/** Stops what was started, newest first, ignoring failures (best effort on the way out). */
async function stopAll(vehicles: readonly SimulatedVehicle[], manager: Manager | undefined, broker: Broker | undefined): Promise<void> {
  await Promise.all(vehicles.map((v) => v.close().catch(() => undefined)));
  await manager?.close().catch(() => undefined);
  await broker?.close().catch(() => undefined);
}

/** Runs `ota up` until `signal` aborts (after startup, or at once if it aborts during startup). */
export async function runUp(opts: UpOptions, io: CliIo, err: CliIo, signal: AbortSignal): Promise<void> {
  const dataDir = resolveDataDir(opts.data);
  const pkiDir = join(dataDir, 'pki');
  const running = await readRunningManager(dataDir);
  if (running !== undefined) {
    throw new OtaError('UP_ALREADY_RUNNING', `a manager (pid ${running.pid}) already runs on ${dataDir} at ${running.api}: stop it first, or use another --data directory (if no manager runs, remove ${join(dataDir, 'manager.json')})`);
  }
  const { vehicles: ids, added } = await ensureFleet(dataDir, opts.vehicles);
  const pki = await ensurePki(pkiDir, ids);
  if (pki.createdCa) io.out(`created the fleet PKI in ${pkiDir}\n`);
  if (pki.issued.length > 0) io.out(`issued certificates: ${pki.issued.join(', ')}\n`);
  if (added.length > 0) io.out(`new simulated vehicles: ${added.join(', ')}\n`);
  if (opts.initOnly) {
    io.out(`data directory ${dataDir} is ready (${ids.length} vehicles); start with: ota up --data ${dataDir}\n`);
    return;
  }

  // Fail closed: without the CRL every part would admit revoked certificates (the broker refuses every
  // client while crl.pem is missing; say so now rather than time out waiting for the manager).
  const crlPath = join(pkiDir, 'crl.pem');
  if (!existsSync(crlPath)) {
    throw new OtaError('UP_NO_CRL', `${crlPath} is missing: nothing starts without the fleet CRL, or revoked vehicles would connect. Restore it, or rewrite it from the PKI index: ota pki crl --dir ${pkiDir}`);
  }

  let broker: Broker | undefined;
  let manager: Manager | undefined;
  const vehicles: SimulatedVehicle[] = [];
  try {
    if (opts.externalBroker === undefined) {
      broker = await startBroker({ pkiDir, host: '127.0.0.1', port: opts.brokerPort, log: (line) => err.out(line + '\n') }).catch((e: unknown) => {
        throw portInUse(e, 'broker', opts.brokerPort, '--broker-port');
      });
    }
    const brokerUrl = broker?.url ?? (opts.externalBroker as string);
    manager = await createManager({
      dataDir,
      brokerUrl,
      http: { host: opts.host, port: opts.port, insecureHttp: opts.insecureHttp === true },
      suites: [opts.suite, ...SUITES.filter((s) => s !== opts.suite)],
      log: stderrLog(opts.verbose ? 'debug' : 'warn'),
      ...(opts.resetDatabase ? { resetDatabase: true } : {}),
    }).catch((e: unknown) => {
      throw portInUse(e, 'API', opts.port, '--port');
    });
    await manager.waitForBroker(15_000);
    const log = { info: (m: string) => (opts.verbose ? err.out(`${m}\n`) : undefined), warn: (m: string) => err.out(`warning: ${m}\n`) };
    // One vehicle that cannot start (a damaged key, certificate, flash or state file) is reported and left
    // offline; the others run (docs/operations.md, "Faults: one bad vehicle").
    const notStarted: string[] = [];
    for (const vehicleId of ids) {
      if (signal.aborted) break;
      let vehicle: SimulatedVehicle;
      try {
        vehicle = await startSimulatedVehicle({ vehicleId, pkiDir, brokerUrl, dataDir, log, gateway: { suites: [opts.suite] }, ...(opts.reprovisionEcus === true ? { reprovisionEcus: true } : {}) });
      } catch (e) {
        notStarted.push(vehicleId);
        err.out(vehicleFaultLine(vehicleId, e));
        continue;
      }
      vehicles.push(vehicle);
      // The manager's key store learns each ECU's own secret (made at the ECU's first start), so
      // `ota diag unlock` can compute keys without a secret on its command line.
      for (const [ecu, secret] of vehicle.ecuSecrets) await manager.ecuSecrets.put(vehicleId, ecu, secret);
    }
    const started = ids.filter((id) => !notStarted.includes(id));
    const fleet = await waitForFleet(manager, started, opts.readyTimeoutMs ?? 20_000, signal);
    io.out(banner({ dataDir, explicitData: opts.data !== undefined, broker, brokerUrl, manager, ids, fleet, notStarted, showToken: manager.apiTokenCreated && opts.interactive === true }));
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    await stopAll(vehicles, manager, broker);
  }
  io.out('stopped\n');
}

/** The one line `ota up` prints for a vehicle it could not start: vehicle, file, problem, what to do. */
export function vehicleFaultLine(vehicleId: string, e: unknown): string {
  if (e instanceof VehicleFileError) {
    return `vehicle ${vehicleId} not started (${e.code}): ${e.path}: ${e.problem}. To fix: ${e.remedy}, then restart ota up. It stays offline; the other vehicles run.\n`;
  }
  const what = isOtaError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  return `vehicle ${vehicleId} not started (${what}). It stays offline; the other vehicles run.\n`;
}

function banner(b: {
  dataDir: string;
  explicitData: boolean;
  broker: Broker | undefined;
  brokerUrl: string;
  manager: Manager;
  ids: readonly string[];
  fleet: Awaited<ReturnType<typeof waitForFleet>>;
  notStarted: readonly string[];
  /** Show the token (first start, on a terminal); otherwise only the file that holds it. */
  showToken: boolean;
}): string {
  const data = b.explicitData ? ` --data ${b.dataDir}` : '';
  const first = b.ids.find((id) => !b.notStarted.includes(id));
  const lines = [
    '',
    `OTA Service Manager is up — data ${b.dataDir}`,
    `  broker    ${b.brokerUrl} (${b.broker ? 'embedded' : 'external'}; mutual TLS with the fleet PKI in ${join(b.dataDir, 'pki')})`,
    `  API       ${b.manager.apiUrl}/api/v1 (bearer token in ${b.manager.paths.apiToken}, 0600)`,
    // The token only once, on a terminal: never into a log file (`ota up > up.log`), never on every start.
    ...(b.showToken
      ? [`  dashboard ${b.manager.apiUrl}/#token=${readFileSync(b.manager.paths.apiToken, 'utf8').trim()}`, `            (the token is shown this once; later it is only in ${b.manager.paths.apiToken})`]
      : [`  dashboard ${b.manager.apiUrl}/ — sign in with the token in ${b.manager.paths.apiToken} (or open ${b.manager.apiUrl}/#token=<that token>)`]),
    `  vehicles  ${b.ids.length} simulated (ECU state in ${join(b.dataDir, 'vehicles')})`,
    `  ECU keys  each ECU's own random SecurityAccess secret, kept by the manager in ${b.manager.ecuSecrets.file} (encrypted, 0600)`,
    ...b.fleet.lines.map((l) => `    ${l}`),
  ];
  if (b.notStarted.length > 0) lines.push(`  not started: ${b.notStarted.join(', ')} (see the 'vehicle … not started' line on stderr; fix that and restart)`);
  if (b.fleet.missing.length > 0) lines.push(`  not yet connected: ${b.fleet.missing.join(', ')} (they keep trying; see \`ota fleet${data}\`)`);
  lines.push('', 'Next:', `  ota fleet${data}`);
  if (first !== undefined) lines.push(`  ota diag ${first} read-dtc${data}`, `  ota shell ${first}${data}`);
  lines.push('', 'ready (Ctrl-C stops)', '');
  return lines.join('\n');
}

export function registerUp(program: Command, io: CliIo = processIo): void {
  program
    .command('up')
    .description('start the embedded broker, the manager and a simulated fleet in the foreground (SIGINT/SIGTERM stops)')
    .option('--vehicles <n>', 'simulated vehicles (default: as many as last time, 3 at first start)', parseVehicleCount)
    .option('--data <dir>', 'data directory (default $OTA_HOME or ./.ota)')
    .option('--host <addr>', 'HTTP API listen address; other than loopback it serves HTTPS with <data>/pki/api.pem (issued when missing)', DEFAULT_API_HOST)
    .option('--insecure-http', 'serve plain HTTP even on a non-loopback --host (the bearer token crosses the network in the clear)')
    .option('--port <port>', 'HTTP API port (0: any free port)', parsePort, 8080)
    .option('--broker-port <port>', 'embedded broker port on 127.0.0.1 (0: any free port)', parsePort, 8883)
    .option('--external-broker <url>', 'use this broker (e.g. Mosquitto, mqtts://127.0.0.1:8883) instead of the embedded one', parseBrokerUrl)
    .addOption(new Option('--suite <suite>', 'secure-channel suite the simulated vehicles offer (the manager accepts both)').choices(SUITES).default('aes-256-gcm'))
    .option('--reset-database', 'start the manager with a new empty database; an existing (damaged or unwanted) ota.db is kept as ota.db.reset-<time>')
    .option('--reprovision-ecus', 're-provision simulated ECUs whose state.json or flash.bin was lost (refused otherwise: ECU_STATE_MISSING / FLASH_STATE_MISSING); logged, the rollback floor kept')
    .option('--init-only', 'create the data directory (PKI, vehicle certificates, fleet.json) and exit')
    .option('--verbose', 'log connection and session details to stderr')
    .action(async (opts: UpOptions) => {
      installRejectionGuard(stderrLog('warn'));
      const stop = new AbortController();
      let firstSignalAt: number | undefined;
      const onSignal = (): void => {
        if (firstSignalAt !== undefined) {
          // Ctrl-C under `npm start` reaches us twice at once (the terminal's and npm's): only a later one forces.
          if (Date.now() - firstSignalAt > 1000) process.exit(130);
          return;
        }
        firstSignalAt = Date.now();
        io.out('stopping…\n');
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await runUp({ ...opts, interactive: process.stdout.isTTY === true }, io, { out: writeErr }, stop.signal);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
