/**
 * Where the CLI takes an ECU's SecurityAccess secret from, never from the command line if it can help
 * it: `/proc/<pid>/cmdline` (and `ps`) is readable by every user of the machine, and shells keep history.
 *
 *   --secret-file <file>   16–64 bytes of hex in a file (or `-`: standard input; on a terminal, a prompt
 *                          that does not echo)
 *   $OTA_ECU_SECRET        the same hex in the environment (readable only by the same user)
 *   --secret <hex>         still accepted, with a warning on stderr
 *
 * The first one given wins in that order; none given → undefined (the caller has its own default).
 */
import { readFileSync, statSync } from 'node:fs';
import { isatty } from 'node:tty';
import { OtaError } from '../protocol/errors.js';
import { parseSecretText } from '../ecu/secret.js';

export const SECRET_ENV = 'OTA_ECU_SECRET';

export const CLI_SECRET_CODES = {
  /** --secret-file cannot be read or does not hold 16–64 bytes of hex. */
  file: 'CLI_SECRET_FILE',
  /** $OTA_ECU_SECRET does not hold 16–64 bytes of hex. */
  env: 'CLI_SECRET_ENV',
  /** The secret asked for on the terminal was not typed, or is not 16–64 bytes of hex. */
  prompt: 'CLI_SECRET_PROMPT',
  /** `ota diag unlock` found no secret anywhere (no option, no $OTA_ECU_SECRET, no key store entry, no terminal). */
  missing: 'CLI_SECRET_MISSING',
} as const;

/** The warning printed when a secret comes from the command line. */
export const SECRET_ARGUMENT_WARNING =
  'warning: --secret puts the secret on the command line, where every user of this machine can read it (/proc/<pid>/cmdline, ps) and your shell history keeps it; use --secret-file <file> or $OTA_ECU_SECRET\n';

export interface SecretOptions {
  /** Already parsed `--secret <hex>`. */
  secret?: Uint8Array;
  secretFile?: string;
}

export interface ChosenSecret {
  secret: Uint8Array;
  /** For messages: `--secret-file <file>`, `$OTA_ECU_SECRET` or `--secret`. */
  source: string;
}

/** Reads `file` (`-` = standard input) as a secret; CLI_SECRET_FILE when it cannot. */
export function readSecretFile(file: string, warn: (text: string) => void = () => undefined): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new OtaError(CLI_SECRET_CODES.file, `cannot read the secret file ${file}`, { cause: e });
  }
  if (file !== '-' && (statSync(file).mode & 0o077) !== 0) warn(`warning: the secret file ${file} is readable by other users (chmod 600 ${file})\n`);
  try {
    return parseSecretText(text, file === '-' ? 'standard input' : file);
  } catch (e) {
    throw new OtaError(CLI_SECRET_CODES.file, `${file === '-' ? 'standard input' : file} does not hold a secret of 16-64 bytes of hex`, { cause: e });
  }
}

/** The secret from the options and environment (see the module comment), or undefined. */
export function chooseSecret(opts: SecretOptions, env: NodeJS.ProcessEnv, warn: (text: string) => void): ChosenSecret | undefined {
  if (opts.secretFile !== undefined) return { secret: readSecretFile(opts.secretFile, warn), source: `--secret-file ${opts.secretFile}` };
  const fromEnv = env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv.trim().length > 0) {
    try {
      return { secret: parseSecretText(fromEnv, `$${SECRET_ENV}`), source: `$${SECRET_ENV}` };
    } catch (e) {
      throw new OtaError(CLI_SECRET_CODES.env, `$${SECRET_ENV} does not hold a secret of 16-64 bytes of hex`, { cause: e });
    }
  }
  if (opts.secret !== undefined) {
    warn(SECRET_ARGUMENT_WARNING);
    return { secret: opts.secret, source: '--secret' };
  }
  return undefined;
}

/** A terminal to ask on: a readable that can switch off echo (a TTY), and where the question goes. */
export interface SecretPromptIo {
  input: NodeJS.ReadableStream & { setRawMode?(mode: boolean): unknown; isTTY?: boolean; unref?(): unknown };
  output: { write(text: string): unknown };
}

/**
 * Asks for the secret on a terminal without echoing it (raw mode; Enter ends, Backspace edits, Ctrl-C or
 * Ctrl-D gives up with CLI_SECRET_PROMPT). The hex typed is checked like a secret file.
 */
export function promptSecret(io: SecretPromptIo, question = 'SecurityAccess secret (hex, not shown): '): Promise<Uint8Array> {
  const { input, output } = io;
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (e: Error | undefined): void => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      input.unref?.(); // the prompt must not keep the process alive
      output.write('\n');
      if (e !== undefined) return reject(e);
      try {
        resolve(parseSecretText(typed, 'the secret typed'));
      } catch (err) {
        reject(new OtaError(CLI_SECRET_CODES.prompt, 'the secret typed is not 16-64 bytes of hex', { cause: err }));
      }
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(undefined);
        if (ch === '\u0003' || ch === '\u0004') return finish(new OtaError(CLI_SECRET_CODES.prompt, 'no secret was typed'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    output.write(question);
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
  });
}

/** chooseSecret, where `--secret-file -` on a terminal asks with promptSecret instead of reading to end of input. */
export async function resolveSecret(opts: SecretOptions, env: NodeJS.ProcessEnv, warn: (text: string) => void, terminal?: SecretPromptIo): Promise<ChosenSecret | undefined> {
  if (opts.secretFile === '-' && terminal?.input.isTTY === true) return { secret: await promptSecret(terminal), source: 'the terminal' };
  return chooseSecret(opts, env, warn);
}

/** Standard input and error as the terminal to ask on, when standard input is a terminal (checked without opening process.stdin). */
export function processTerminal(): SecretPromptIo | undefined {
  return isatty(0) ? { input: process.stdin, output: process.stderr } : undefined;
}
