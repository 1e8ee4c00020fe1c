/**
 * `ota manager [--data <dir>] [--broker <url>] [--host <addr>] [--port 8080]`: run the manager on its
 * own (the embedded broker and the fleet run elsewhere). Stops cleanly on SIGINT / SIGTERM, removing
 * `<data>/manager.json`. The lead wires registerManager into main.ts.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { installRejectionGuard } from './guard.js';
import { nextSignal } from './signals.js';
import { MAX_CHUNK_SIZE } from '../protocol/ota/update-messages.js';
import { createManager, DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_BROKER_URL, resolveDataDir, stderrLog } from '../manager/index.js';
import { writeOut } from './terminal.js';

/** A TCP port 0..65535 (0: any free port). */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
}

/** An mqtts:// (or mqtt:// for a test broker) URL. */
export function parseBrokerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as mqtts://127.0.0.1:8883');
  }
  if (url.protocol !== 'mqtts:' && url.protocol !== 'mqtt:') throw new InvalidArgumentError('expected an mqtts:// URL');
  return value;
}

interface ManagerCliOptions {
  data?: string;
  broker: string;
  host: string;
  port: number;
  insecureHttp?: boolean;
  verbose?: boolean;
  chunkSize?: number;
  resetDatabase?: boolean;
  jobStallTimeout?: number;
}

/** A fixed update chunk size, 64 B … 60 KiB (MAX_CHUNK_SIZE). */
export function parseChunkSize(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 64 || Number(value) > MAX_CHUNK_SIZE) throw new InvalidArgumentError(`expected a chunk size of 64-${MAX_CHUNK_SIZE} bytes`);
  return Number(value);
}

/** The job watchdog's timeout: 1 s … 1 day, in whole seconds. */
export function parseStallTimeout(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 86_400) throw new InvalidArgumentError('expected 1-86400 seconds');
  return Number(value);
}

export function registerManager(program: Command): void {
  program
    .command('manager')
    .description('run the manager (fleet registry, remote diagnostics, HTTP API) against a broker')
    .option('--data <dir>', 'data directory (default $OTA_HOME or ./.ota)')
    .option('--broker <url>', 'broker URL', parseBrokerUrl, DEFAULT_BROKER_URL)
    .option('--host <addr>', 'HTTP API listen address; other than loopback it serves HTTPS with <data>/pki/api.pem (issued when missing)', DEFAULT_API_HOST)
    .option('--insecure-http', 'serve plain HTTP even on a non-loopback --host (the bearer token crosses the network in the clear)')
    .option('--port <port>', 'HTTP API port (0: any free port)', parsePort, DEFAULT_API_PORT)
    .option('--verbose', 'log debug events too')
    .option('--reset-database', 'start with a new empty database; an existing (damaged or unwanted) ota.db is kept as ota.db.reset-<time>')
    .option('--job-stall-timeout <seconds>', 'watchdog: re-offer a job in flight after this long without progress, fail it JOB_STALLED after 3 such re-offers (default 600)', parseStallTimeout)
    .option('--chunk-size <bytes>', 'fixed firmware chunk size for new jobs (default: by image size, 512 B for 56 KiB; a tuning / test knob)', parseChunkSize)
    .action(async (opts: ManagerCliOptions) => {
      installRejectionGuard(stderrLog('warn'));
      const stopped = nextSignal(); // listening before start-up: a SIGTERM during it stops cleanly too
      const dataDir = resolveDataDir(opts.data);
      const manager = await createManager({
        dataDir,
        brokerUrl: opts.broker,
        http: { host: opts.host, port: opts.port, insecureHttp: opts.insecureHttp === true },
        log: stderrLog(opts.verbose ? 'debug' : 'info'),
        ...(opts.resetDatabase ? { resetDatabase: true } : {}),
        jobs: {
          ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }),
          ...(opts.jobStallTimeout === undefined ? {} : { stallTimeoutMs: opts.jobStallTimeout * 1000 }),
        },
      });
      writeOut(
        `manager: API ${manager.apiUrl}/api/v1 (token in ${manager.paths.apiToken}), broker ${manager.brokerUrl}, data ${dataDir}\n`,
      );
      await stopped;
      await manager.close();
    });
}
