/**
 * `ota shell <vehicle> [--ecu engine]`: an interactive diagnostics console on one vehicle, through the
 * manager's API. It offers the verbs of the original tool (help, unlock, reset, read, clear, download,
 * upload, transfer, exit) mapped onto real UDS services, and every `ota diag` command besides.
 *
 * With a terminal: a prompt, line editing, history (kept in `<data>/shell_history`) and tab completion
 * of verbs, DID names, sessions and ECU names. Without one (stdin a pipe or a file) it reads commands
 * line by line, echoes each after a prompt, and exits with status 1 if any command failed (a negative
 * response, a timeout, a refusal), so a script can feed it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { isOtaError } from '../protocol/errors.js';
import { managerPaths, resolveDataDir } from '../manager/paths.js';
import { ApiClient } from './api-client.js';
import { diagHelp, parseEcuName, vehicleIdOf } from './diag.js';
import { DIAG_VERBS, parseDiagWords } from './diag/actions.js';
import { RESET_WORDS, SESSION_WORDS, didWords } from './diag/catalog.js';
import { keyStoreSecret, runDiag, type DiagTarget } from './diag/run.js';
import { terminalWriter, writeOut } from './terminal.js';
import { escapeControls } from '../protocol/text.js';

const HISTORY_FILE = 'shell_history';
const HISTORY_SIZE = 500;

/** The original tool's verbs, then the shell's own. */
export const SHELL_VERBS = ['help', 'unlock', 'reset', 'read', 'clear', 'download', 'upload', 'transfer', 'exit', 'quit', 'ecu'] as const;

export const SHELL_HELP = [
  "The original tool's verbs, on real UDS services:",
  '  help                                 this text',
  '  unlock [--level 0x01|0x11] [--secret-file file]',
  '                                       SecurityAccess (27): seed, key computed here, key sent',
  '  reset [hard|soft|key-off]            ECUReset (11)',
  '  read <did…>                          ReadDataByIdentifier (22): F190 or vin, serial, app-version, …',
  '  read dtc [--mask 0xFF]               ReadDTCInformation (19 02)',
  '  clear [--group 0xFFFFFF]             ClearDiagnosticInformation (14)',
  '  download <address> <size>            RequestDownload (34 00 44 …)',
  '  upload <address> <size>              RequestUpload (35 00 44 …)',
  '  transfer <counter> <hex>             TransferData (36)',
  '  transfer exit                        RequestTransferExit (37)',
  '  exit                                 leave (also quit, Ctrl-D)',
  '  download, upload and transfer send one raw service each: a full, checked flash (erase, download,',
  '  check, signed-manifest dependency check, reset) is `ota flash`, coming with the update issue.',
  '',
  'The shell also has:',
  '  ecu [name]                           show the ECUs, or switch to one',
  '',
  'and every `ota diag` command:',
  diagHelp(),
].join('\n');

/** Splits a line into words; "double" or 'single' quotes keep spaces inside one word. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

/** The `ota diag` words of a shell line: the original verbs mapped (read → read-did / read-dtc, clear → clear-dtc, transfer exit → transfer-exit). */
export function toDiagWords(words: readonly string[]): string[] {
  const [verb, ...rest] = words;
  switch (verb?.toLowerCase()) {
    case 'read':
      return /^dtcs?$/i.test(rest[0] ?? '') ? ['read-dtc', ...rest.slice(1)] : ['read-did', ...rest];
    case 'clear':
      return ['clear-dtc', ...rest];
    case 'transfer':
      return rest.length === 1 && rest[0]?.toLowerCase() === 'exit' ? ['transfer-exit'] : ['transfer', ...rest];
    default:
      return [...words];
  }
}

/** Tab completion: verbs first, then what the verb takes. */
export function completer(ecus: readonly string[]): (line: string) => [string[], string] {
  const verbs = [...new Set([...SHELL_VERBS, ...DIAG_VERBS])].sort();
  const dids = didWords();
  return (line) => {
    const words = line.split(/\s+/);
    const last = words[words.length - 1] ?? '';
    const pick = (options: readonly string[]): [string[], string] => {
      const hits = options.filter((o) => o.toLowerCase().startsWith(last.toLowerCase()));
      return [hits, last];
    };
    if (words.length <= 1) return pick(verbs);
    switch (words[0]?.toLowerCase()) {
      case 'read':
        return pick(words.length === 2 ? ['dtc', ...dids] : dids);
      case 'read-did':
        return pick(dids);
      case 'write-did':
        return words.length === 2 ? pick(dids) : [[], last];
      case 'session':
        return pick(SESSION_WORDS);
      case 'reset':
        return pick(RESET_WORDS);
      case 'routine':
        return words.length === 2 ? pick(['start', 'stop', 'results']) : [[], last];
      case 'ecu':
        return pick(ecus);
      case 'help':
        return pick(verbs);
      default:
        return [[], last];
    }
  };
}

export interface ShellSession {
  client: ApiClient;
  vehicleId: string;
  ecu: string;
  ecus: string[];
  /** unlock: the key store lookup (DiagTarget.storedSecret). */
  storedSecret?: DiagTarget['storedSecret'];
  input: Readable;
  output: Writable;
  /** A person at a terminal (prompt, editing, completion) or a script. */
  terminal: boolean;
  /** Where history is loaded from and saved to (terminal only). */
  historyFile?: string;
}

async function loadHistory(file: string | undefined): Promise<string[]> {
  if (file === undefined) return [];
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

/** Runs the console until `exit` or end of input; resolves with the number of failed commands. */
export async function runShell(s: ShellSession): Promise<number> {
  const out = terminalWriter(s.output);
  const history = s.terminal ? await loadHistory(s.historyFile) : [];
  const rl: Interface = createInterface({
    input: s.input,
    output: s.output,
    terminal: s.terminal,
    ...(s.terminal ? { completer: completer(s.ecus), history, historySize: HISTORY_SIZE } : {}),
  });
  let ecu = s.ecu;
  let failures = 0;
  const prompt = (): string => `${s.vehicleId}:${ecu}> `;
  rl.setPrompt(prompt());
  if (s.terminal) rl.prompt();
  try {
    for await (const line of rl) {
      const words = splitWords(line);
      if (!s.terminal) out(`${prompt()}${line}\n`);
      const verb = words[0]?.toLowerCase();
      if (verb === undefined) {
        // an empty line: nothing to do
      } else if (verb === 'exit' || verb === 'quit') {
        break;
      } else if (verb === 'help' || verb === '?') {
        out(SHELL_HELP + '\n');
      } else if (verb === 'ecu') {
        const name = words[1];
        if (name === undefined) out(`ECUs: ${s.ecus.join(', ') || '(none announced)'}; current: ${ecu}\n`);
        else {
          try {
            ecu = parseEcuName(name);
            rl.setPrompt(prompt());
          } catch {
            failures++;
            out(`error CLI_USAGE: '${name}' is not an ECU name\n`);
          }
        }
      } else {
        try {
          const report = await runDiag({ client: s.client, vehicleId: s.vehicleId, ecu, ...(s.storedSecret === undefined ? {} : { storedSecret: s.storedSecret }) }, parseDiagWords(toDiagWords(words)));
          out(report.lines.map((l) => escapeControls(l)).join('\n') + '\n');
          if (!report.ok) failures++;
        } catch (e) {
          failures++;
          out(`error ${isOtaError(e) ? e.code : 'UNEXPECTED'}: ${escapeControls(e instanceof Error ? e.message : String(e))}\n`);
        }
      }
      if (s.terminal) rl.prompt();
    }
  } finally {
    rl.close();
    if (s.terminal && s.historyFile !== undefined) {
      // A secret typed after --secret stays out of the history file.
      const lines = [...((rl as unknown as { history?: string[] }).history ?? [])].reverse().filter((l) => !/--secret(?!-file)/.test(l));
      await writeFile(s.historyFile, lines.join('\n') + '\n', { mode: 0o600 }).catch(() => undefined);
    }
  }
  return failures;
}

export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('interactive diagnostics console on one vehicle (reads commands line by line when stdin is not a terminal)')
    .argument('<vehicle>', 'vehicle id, or the unique end of one (e.g. 000001)')
    .option('--data <dir>', 'data directory of the manager (default $OTA_HOME or ./.ota)')
    .option('--ecu <name>', 'ECU to start with', parseEcuName, 'engine')
    .action(async (vehicle: string, opts: { data?: string; ecu: string }) => {
      const dataDir = resolveDataDir(opts.data);
      const client = await ApiClient.open(dataDir);
      const vehicleId = await vehicleIdOf(client, vehicle);
      const view = await client.vehicle(vehicleId);
      const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
      // ECU names come from the vehicle; shown (prompt completions too) only escaped.
      const ecus = view.ecus.map((e) => escapeControls(e.name));
      if (terminal) {
        const state = view.reachable ? 'online, secure session established' : view.online ? `online, session ${view.session}` : 'offline';
        writeOut(`${vehicleId} (${state}) via ${client.location.api}; ECUs: ${ecus.join(', ') || 'none announced'}. Type help.\n`);
      }
      const storedSecret = keyStoreSecret(managerPaths(dataDir).managerDir);
      const failures = await runShell({ client, vehicleId, ecu: opts.ecu, ecus, storedSecret, input: process.stdin, output: process.stdout, terminal, historyFile: join(dataDir, HISTORY_FILE) });
      if (!terminal && failures > 0) process.exitCode = 1;
    });
}
