/**
 * The diagnostic commands of `ota diag` and `ota shell` as data: `parseDiagWords(['read-dtc', '--mask',
 * '0x08'])` → `{ verb: 'read-dtc', mask: 0x08 }`. One parser for both front ends, so the shell offers
 * exactly what the command line does. Usage errors are `OtaError('CLI_USAGE')`.
 */
import { OtaError } from '../../protocol/errors.js';
import { parseHex } from '../../protocol/hex.js';
import { ALL_DTC_GROUPS, ROUTINE_CONTROL_TYPE, encodeRequest } from '../../protocol/uds/index.js';
import { didInfo, parseByte, parseDid, parseNumber, parseReset, parseSession } from './catalog.js';

export type DiagAction =
  | { verb: 'session'; session: number }
  | { verb: 'unlock'; level?: number; secret?: Uint8Array; secretFile?: string }
  | { verb: 'read-did'; dids: number[] }
  | { verb: 'write-did'; did: number; data: Uint8Array }
  | { verb: 'read-dtc'; mask: number }
  | { verb: 'clear-dtc'; group: number }
  | { verb: 'reset'; resetType: number }
  | { verb: 'routine'; control: number; routine: number; option: Uint8Array }
  | { verb: 'tester-present' }
  | { verb: 'download' | 'upload'; address: number; size: number }
  | { verb: 'transfer'; counter: number; data: Uint8Array }
  | { verb: 'transfer-exit' }
  | { verb: 'raw'; request: Uint8Array };

export type DiagVerb = DiagAction['verb'];

/** Usage of every verb, one line each (help texts of `ota diag` and the shell). */
export const DIAG_USAGE: ReadonlyArray<readonly [DiagVerb, string, string]> = [
  ['session', 'session <default|extended|programming|0xNN>', 'DiagnosticSessionControl (10)'],
  ['unlock', 'unlock [--level 0x01|0x11] [--secret-file file|-]', 'SecurityAccess (27): seed, key computed here, send key'],
  ['read-did', 'read-did <did…>', 'ReadDataByIdentifier (22), one request per DID; hex (F190) or a name (vin, serial, app-version, …)'],
  ['write-did', 'write-did <did> <hex|text> [--hex|--text]', 'WriteDataByIdentifier (2E)'],
  ['read-dtc', 'read-dtc [--mask 0xFF]', 'ReadDTCInformation reportDTCByStatusMask (19 02)'],
  ['clear-dtc', 'clear-dtc [--group 0xFFFFFF]', 'ClearDiagnosticInformation (14)'],
  ['reset', 'reset [hard|soft|key-off]', 'ECUReset (11), default hard'],
  ['routine', 'routine <start|stop|results> <id> [hex]', 'RoutineControl (31)'],
  ['tester-present', 'tester-present', 'TesterPresent (3E 00)'],
  ['download', 'download <address> <size>', 'RequestDownload (34 00 44 …): raw service, see `ota flash` (next issue) for a full flash'],
  ['upload', 'upload <address> <size>', 'RequestUpload (35 00 44 …)'],
  ['transfer', 'transfer <counter> <hex>', 'TransferData (36)'],
  ['transfer-exit', 'transfer-exit', 'RequestTransferExit (37)'],
  ['raw', 'raw <hex>', 'any request, e.g. raw 22F190'],
];

export const DIAG_VERBS: readonly DiagVerb[] = DIAG_USAGE.map(([v]) => v);

/** Options each verb takes, and whether the option has a value. */
const VERB_OPTIONS: Partial<Record<DiagVerb, Readonly<Record<string, boolean>>>> = {
  unlock: { '--level': true, '--secret': true, '--secret-file': true },
  'write-did': { '--hex': false, '--text': false },
  'read-dtc': { '--mask': true },
  'clear-dtc': { '--group': true },
};

function usage(message: string): OtaError {
  return new OtaError('CLI_USAGE', message);
}

/** Splits `words` into positional arguments and the verb's options; refuses options it does not take. */
function splitOptions(verb: DiagVerb, words: readonly string[]): { args: string[]; opts: Map<string, string> } {
  const allowed = VERB_OPTIONS[verb] ?? {};
  const args: string[] = [];
  const opts = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    if (!w.startsWith('--')) {
      args.push(w);
      continue;
    }
    const [name, inline] = w.includes('=') ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] : [w, undefined];
    const takesValue = allowed[name];
    if (takesValue === undefined) throw usage(`${verb} does not take ${name}`);
    if (!takesValue) {
      opts.set(name, '');
      continue;
    }
    const value = inline ?? words[++i];
    if (value === undefined) throw usage(`${name} needs a value`);
    opts.set(name, value);
  }
  return { args, opts };
}

function hexArg(text: string, what: string): Uint8Array {
  try {
    return parseHex(text);
  } catch (e) {
    throw new OtaError('CLI_USAGE', `${what} '${text}' is not hex`, { cause: e });
  }
}

function arity(verb: DiagVerb, args: readonly string[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const line = DIAG_USAGE.find(([v]) => v === verb)?.[1] ?? verb;
    throw usage(`usage: ${line}`);
  }
}

/**
 * The value of `write-did <did> <value>`: `--hex` / `--text` decide; else `0x…` is hex, a DID that
 * holds text (VIN, repair shop code, …) takes the words as text, and other DIDs take hex.
 */
export function writeValue(did: number, value: string, force?: 'hex' | 'text'): Uint8Array {
  const asText = (): Uint8Array => Uint8Array.from(Buffer.from(value, 'latin1'));
  if (force === 'text') return asText();
  if (force === 'hex' || /^0x/i.test(value)) return hexArg(value, 'value');
  if (didInfo(did).kind === 'ascii') return asText();
  return hexArg(value, 'value (hex; use --text for text)');
}

const ROUTINE_CONTROL: Readonly<Record<string, number>> = {
  start: ROUTINE_CONTROL_TYPE.startRoutine,
  stop: ROUTINE_CONTROL_TYPE.stopRoutine,
  results: ROUTINE_CONTROL_TYPE.requestRoutineResults,
};

/** Parses one diagnostic command: the verb, then its arguments and options. Throws CLI_USAGE and the catalog's codes. */
export function parseDiagWords(words: readonly string[]): DiagAction {
  const [first, ...rest] = words;
  if (first === undefined) throw usage(`a command is needed: ${DIAG_VERBS.join(', ')}`);
  const verb = DIAG_VERBS.find((v) => v === first.toLowerCase());
  if (verb === undefined) throw usage(`unknown command '${first}' (commands: ${DIAG_VERBS.join(', ')})`);
  const { args, opts } = splitOptions(verb, rest);
  switch (verb) {
    case 'session':
      arity(verb, args, 1, 1);
      return { verb, session: parseSession(args[0] as string) };
    case 'unlock': {
      arity(verb, args, 0, 0);
      const level = opts.get('--level');
      const secret = opts.get('--secret');
      const secretFile = opts.get('--secret-file');
      const action: DiagAction = { verb };
      if (secretFile !== undefined) action.secretFile = secretFile;
      if (level !== undefined) {
        const n = parseByte(level, 'level');
        if (n % 2 !== 1 || n > 0x41) throw usage(`--level ${level}: a requestSeed level is odd, 0x01-0x41 (0x01 extended, 0x11 programming)`);
        action.level = n;
      }
      if (secret !== undefined) {
        const bytes = hexArg(secret, '--secret');
        if (bytes.length < 16 || bytes.length > 64) throw usage('--secret must be 16-64 bytes of hex');
        action.secret = bytes;
      }
      return action;
    }
    case 'read-did':
      arity(verb, args, 1, 16);
      return { verb, dids: args.map(parseDid) };
    case 'write-did': {
      arity(verb, args, 2, Infinity);
      const did = parseDid(args[0] as string);
      if (opts.has('--hex') && opts.has('--text')) throw usage('give --hex or --text, not both');
      const force = opts.has('--hex') ? 'hex' : opts.has('--text') ? 'text' : undefined;
      // Several words (text with spaces, unquoted in the shell) are joined with one space.
      const data = writeValue(did, args.slice(1).join(' '), force);
      if (data.length === 0) throw usage('write-did needs a value of at least one byte');
      return { verb, did, data };
    }
    case 'read-dtc':
      arity(verb, args, 0, 0);
      return { verb, mask: opts.has('--mask') ? parseByte(opts.get('--mask') as string, 'mask') : 0xff };
    case 'clear-dtc':
      arity(verb, args, 0, 0);
      return { verb, group: opts.has('--group') ? parseNumber(opts.get('--group') as string, 'group', 0xffffff) : ALL_DTC_GROUPS };
    case 'reset':
      arity(verb, args, 0, 1);
      return { verb, resetType: args[0] === undefined ? 0x01 : parseReset(args[0]) };
    case 'routine': {
      arity(verb, args, 2, 3);
      const control = ROUTINE_CONTROL[(args[0] as string).toLowerCase()];
      if (control === undefined) throw usage(`routine ${args[0] as string}: expected start, stop or results`);
      return { verb, control, routine: parseNumber(args[1] as string, 'routine id', 0xffff), option: args[2] === undefined ? new Uint8Array() : hexArg(args[2], 'option record') };
    }
    case 'tester-present':
    case 'transfer-exit':
      arity(verb, args, 0, 0);
      return { verb };
    case 'download':
    case 'upload':
      arity(verb, args, 2, 2);
      return { verb, address: parseNumber(args[0] as string, 'address', 0xffff_ffff), size: parseNumber(args[1] as string, 'size', 0xffff_ffff) };
    case 'transfer':
      arity(verb, args, 2, 2);
      return { verb, counter: parseByte(args[0] as string, 'block sequence counter'), data: hexArg(args[1] as string, 'data') };
    case 'raw':
      arity(verb, args, 1, Infinity);
      return { verb, request: hexArg(args.join(''), 'request') };
  }
}

/** The UDS request of a single-request action (unlock and read-did are sequences: see run.ts). */
export function requestOf(action: Exclude<DiagAction, { verb: 'unlock' | 'read-did' }>): Uint8Array {
  switch (action.verb) {
    case 'session':
      return encodeRequest({ service: 'DiagnosticSessionControl', sessionType: action.session, suppressPositiveResponse: false });
    case 'write-did':
      return encodeRequest({ service: 'WriteDataByIdentifier', did: action.did, data: action.data });
    case 'read-dtc':
      return encodeRequest({ service: 'ReadDTCInformation', reportType: 0x02, dtcStatusMask: action.mask, suppressPositiveResponse: false });
    case 'clear-dtc':
      return encodeRequest({ service: 'ClearDiagnosticInformation', groupOfDTC: action.group });
    case 'reset':
      return encodeRequest({ service: 'ECUReset', resetType: action.resetType, suppressPositiveResponse: false });
    case 'routine':
      return encodeRequest({ service: 'RoutineControl', routineControlType: action.control, routineIdentifier: action.routine, optionRecord: action.option, suppressPositiveResponse: false });
    case 'tester-present':
      return encodeRequest({ service: 'TesterPresent', suppressPositiveResponse: false });
    case 'download':
    case 'upload':
      return encodeRequest({
        service: action.verb === 'download' ? 'RequestDownload' : 'RequestUpload',
        compressionMethod: 0,
        encryptingMethod: 0,
        addressLength: 4,
        sizeLength: 4,
        memoryAddress: action.address,
        memorySize: action.size,
      });
    case 'transfer':
      return encodeRequest({ service: 'TransferData', blockSequenceCounter: action.counter, data: action.data });
    case 'transfer-exit':
      return encodeRequest({ service: 'RequestTransferExit', parameterRecord: new Uint8Array() });
    case 'raw':
      return action.request;
  }
}
