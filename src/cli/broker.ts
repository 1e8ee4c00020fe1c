/**
 * `ota broker`: run the embedded MQTT broker standalone, or write the equivalent Mosquitto
 * configuration (`ota broker mosquitto-config`). See docs/operations.md.
 */
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_BROKER_LIMITS, ensureBrokerCertificate, startBroker, writeMosquittoConfig, type BrokerStats } from '../broker/index.js';
import { writeErr, writeOut } from './terminal.js';
import { stderrLog } from '../manager/log.js';
import { installRejectionGuard } from './guard.js';
import { nextSignal } from './signals.js';

/** Where the command writes: `out` for results (stdout), `err` for log lines (stderr). */
export interface BrokerCliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: BrokerCliIo = { out: writeOut, err: writeErr };

/** The PKI directory when --pki is not given: `$OTA_HOME/pki`, else `./.ota/pki`. */
export function defaultPkiDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.OTA_HOME ?? '.ota', 'pki');
}

/** A TCP port: 0-65535 (0 = any free port, where listening). */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
}

/** A byte count: a positive decimal integer. */
export function parseByteCount(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive number of bytes');
  return Number(value);
}

export function registerBroker(program: Command, io: BrokerCliIo = processIo): void {
  const broker = program
    .command('broker')
    .description('run the embedded MQTT broker (mutual TLS with the fleet PKI, per-vehicle topic ACL) until SIGINT/SIGTERM')
    .option('--pki <dir>', 'PKI directory (default $OTA_HOME/pki or ./.ota/pki); broker.pem/key are issued if missing')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0: any free port)', parsePort, 8883)
    .option('--max-packet-bytes <n>', `largest MQTT packet a client may send (default ${DEFAULT_BROKER_LIMITS.maxPacketBytes}: the largest secure-channel record plus framing)`, parseByteCount)
    // mosquitto-config shares --pki/--host/--port: commander parses them on this command, wherever they
    // stand, and the subcommand reads them through optsWithGlobals().
    .configureHelp({ showGlobalOptions: true })
    .action(async (opts: { pki?: string; host: string; port: number; maxPacketBytes?: number }) => {
      installRejectionGuard(stderrLog('warn'));
      const pkiDir = opts.pki ?? defaultPkiDir();
      if (await ensureBrokerCertificate(pkiDir, { hosts: [opts.host] })) {
        io.err(`issued the broker certificate ${join(pkiDir, 'broker.pem')}\n`);
      }
      const stopped = nextSignal();
      const limits = opts.maxPacketBytes === undefined ? {} : { maxPacketBytes: opts.maxPacketBytes };
      const running = await startBroker({ pkiDir, host: opts.host, port: opts.port, limits, log: (line) => io.err(line + '\n') });
      io.out(`broker listening on ${running.url}\n`);
      const sig = await stopped;
      await running.close();
      io.out(`broker stopped (${sig}): ${summary(running.stats)}\n`);
    });

  broker
    .command('mosquitto-config')
    .description('write mosquitto.conf and an ACL file enforcing the same rules with Mosquitto 2.x (--pki, --host, --port as above; issues broker.pem/key if missing)')
    .requiredOption('--out <dir>', 'where to write mosquitto.conf and acl')
    .option('--manager <cn...>', 'manager certificate CNs allowed the whole namespace (added to the PKI index managers)')
    .option('--user <name>', "Mosquitto's `user` option: the account that runs it (it must be able to read the PKI keys)")
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ pki?: string; out: string; host: string; port: number; manager?: string[]; user?: string; maxPacketBytes?: number }>();
      const pkiDir = opts.pki ?? defaultPkiDir();
      if (await ensureBrokerCertificate(pkiDir, { hosts: [opts.host] })) {
        io.err(`issued the broker certificate ${join(pkiDir, 'broker.pem')}\n`);
      }
      const written = await writeMosquittoConfig({
        pkiDir,
        outDir: opts.out,
        host: opts.host,
        port: opts.port,
        managers: opts.manager,
        user: opts.user,
        ...(opts.maxPacketBytes === undefined ? {} : { limits: { maxPacketBytes: opts.maxPacketBytes } }),
      });
      for (const w of written.warnings) io.err(`warning: ${w}\n`);
      io.out(`wrote ${written.confPath} and ${written.aclPath} (managers: ${written.managers.join(', ') || 'none'})\n`);
      io.out(`run: mosquitto -c ${written.confPath}\n`);
    });
}

function summary(stats: BrokerStats): string {
  const total = (t: Record<string, number>): number => Object.values(t).reduce((a, b) => a + b, 0);
  const { accepted, refused } = stats;
  return (
    `${accepted.connections} connections accepted, ${total(refused.connections)} refused; ` +
    `${total(refused.publishes)} publishes and ${total(refused.subscriptions)} subscriptions refused; ` +
    `${total(stats.dropped)} clients dropped, ${total(stats.limited)} publishes rate-limited`
  );
}
