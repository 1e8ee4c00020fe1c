/**
 * `ota diag <vehicle> [--ecu engine] [--json] [--timeout ms] <command> [args]`: one diagnostic command
 * to one ECU of a vehicle, through the manager's HTTP API (the manager of `--data`, found by
 * `<data>/manager.json`). Prints the exchange and its decoding, or JSON with `--json`.
 * Exit status: 0 positive, 1 a negative response, a timeout or any other refusal, 2 a usage error.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { isOtaError } from '../protocol/errors.js';
import { managerPaths, resolveDataDir } from '../manager/paths.js';
import { ApiClient } from './api-client.js';
import { DIAG_USAGE, parseDiagWords } from './diag/actions.js';
import { keyStoreSecret, reportJson, runDiag } from './diag/run.js';
import { processIo, type CliIo } from './pki.js';
import { escapeControls } from '../protocol/text.js';
import { processTerminal } from './secret-source.js';

/** A timeout in ms, 1..600000 (the manager's limit). */
export function parseTimeoutMs(value: string): number {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > 600_000) throw new InvalidArgumentError('expected milliseconds, 1-600000');
  return Number(value);
}

/** An ECU name as the gateway reports it. */
export function parseEcuName(value: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(value)) throw new InvalidArgumentError('expected an ECU name such as engine or body');
  return value;
}

/** The vehicle a person meant: a full id as is, else the unique id that ends with it (`000001`). */
export async function vehicleIdOf(client: ApiClient, arg: string): Promise<string> {
  return arg.length === 17 ? arg : client.resolveVehicle(arg);
}

/** The verbs as a help table. */
export function diagHelp(): string {
  const width = Math.max(...DIAG_USAGE.map(([, u]) => u.length));
  return DIAG_USAGE.map(([, u, what]) => `  ${u.padEnd(width)}  ${what}`).join('\n');
}

/** Runs `parse`; a usage refusal (CLI_USAGE and the argument codes) becomes commander's usage error: exit status 2. */
export function usageChecked<T>(cmd: Command, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (isOtaError(e) && e.code.startsWith('CLI_')) cmd.error(`error ${e.code}: ${e.message}`, { exitCode: 2, code: 'ota.usage' });
    throw e;
  }
}

interface DiagOptions {
  data?: string;
  ecu: string;
  json?: boolean;
  timeout?: number;
}

export function registerDiag(program: Command, io: CliIo = processIo): void {
  program
    .command('diag')
    .description('send one diagnostic command (UDS) to an ECU of a vehicle through the manager')
    .argument('<vehicle>', 'vehicle id, or the unique end of one (e.g. 000001)')
    .argument('<command...>', 'the command and its arguments (below)')
    .option('--data <dir>', 'data directory of the manager (default $OTA_HOME or ./.ota)')
    .option('--ecu <name>', 'ECU of the vehicle', parseEcuName, 'engine')
    .option('--json', 'print the result as JSON')
    .option('--timeout <ms>', "the manager's wait for the answer (default 10000)", parseTimeoutMs)
    // Command options (--mask, --level, …) belong to the command: parseDiagWords checks them.
    .allowUnknownOption()
    .addHelpText(
      'after',
      [
        '',
        'Commands:',
        diagHelp(),
        '',
        'unlock computes the key locally: key = HMAC-SHA256(secret, seed). The secret comes from --secret-file <file>',
        '(- reads standard input), else $OTA_ECU_SECRET, else the key store where `ota up` keeps the secrets of the',
        'ECUs it simulates (<data>/manager/ecu-secrets.json). --secret <hex> still works but puts the secret on the',
        'command line, readable by every user (/proc/<pid>/cmdline). Seeds and keys are never printed. The unlock',
        'lasts while the ECU stays in its non-default session; the gateway keeps that alive between commands:',
        '  ota diag V session extended && ota diag V unlock && ota diag V write-did repair-shop WS-0000042',
      ].join('\n'),
    )
    .action(async (vehicle: string, words: string[], opts: DiagOptions, cmd: Command) => {
      const action = usageChecked(cmd, () => parseDiagWords(words));
      try {
        const dataDir = resolveDataDir(opts.data);
        const client = await ApiClient.open(dataDir);
        const vehicleId = await vehicleIdOf(client, vehicle);
        const storedSecret = keyStoreSecret(managerPaths(dataDir).managerDir);
        const terminal = processTerminal();
        const report = await runDiag({ client, vehicleId, ecu: opts.ecu, storedSecret, ...(terminal === undefined ? {} : { terminal }), ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }) }, action);
        io.out(opts.json ? JSON.stringify(reportJson(report), null, 2) + '\n' : report.lines.map((l) => escapeControls(l)).join('\n') + '\n');
        if (!report.ok) process.exitCode = 1;
      } catch (e) {
        if (opts.json && isOtaError(e)) io.out(JSON.stringify({ ok: false, error: { code: e.code, message: e.message } }, null, 2) + '\n');
        throw e;
      }
    });
}
