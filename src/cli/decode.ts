/**
 * `ota decode <format> <hex-bytes|file>`: a diagnostic engineer pastes bytes from a trace and reads
 * the decoded structure as JSON (`--pretty` for people). Malformed input: exit 1 and one line naming
 * what is wrong (the decoder's error code and message). A multi-DID `62` response is split with the
 * known DID lengths (ISO's and the virtual ECU's fixed-length DIDs) and `--did-length F190=17` for others.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ECU_DID_LENGTHS } from '../ecu/server/index.js';
import { OtaError } from '../protocol/errors.js';
import { parseHex } from '../protocol/hex.js';
import { describeDoip } from '../protocol/doip/index.js';
import { describeIsoTp } from '../protocol/isotp/index.js';
import { describeUds } from '../protocol/uds/index.js';
import { describeIntelHex, describeSrec } from '../protocol/firmware/index.js';
import { writeOut } from './terminal.js';

/** A decoder for the CLI: gets the raw input text (hex or file content) and returns JSON-able data. */
export interface CliDecoder {
  /** `bytes`: the input is hex bytes (or a binary file); `text`: the input is a text file/format. */
  input: 'bytes' | 'text' | 'frames';
  summary: string;
  decode(input: Uint8Array | string | Uint8Array[], options: DecodeCliOptions): unknown;
}

/** What the command line adds to a decoder's input. */
export interface DecodeCliOptions {
  /** Data length of each DID whose length a response does not carry (ReadDataByIdentifier, snapshots). */
  didLengths: ReadonlyMap<number, number>;
}

/** Longest DID data a `62` response on one ISO-TP message can carry (4095 − SID − DID). */
const MAX_DID_DATA_LENGTH = 4092;

/** `F190=17` (the DID in hex, optional 0x; the length in bytes, 1…4092) → [0xF190, 17]; repeatable. */
export function parseDidLength(value: string, previous: ReadonlyMap<number, number> = new Map()): Map<number, number> {
  const m = /^(?:0x)?([0-9a-fA-F]{1,4})=(\d{1,4})$/.exec(value.trim());
  const length = m === null ? NaN : Number(m[2]);
  if (m === null || !(length >= 1 && length <= MAX_DID_DATA_LENGTH)) {
    throw new InvalidArgumentError(`expected DID=bytes with the DID in hex and 1-${MAX_DID_DATA_LENGTH} bytes, e.g. F190=17`);
  }
  return new Map(previous).set(parseInt(m[1] as string, 16), length);
}

/** Every format `ota decode` knows, in one place. */
const decoders = new Map<string, CliDecoder>([
  ['ihex', { input: 'text', summary: 'an Intel HEX image file', decode: (t) => describeIntelHex(t as string) }],
  ['srec', { input: 'text', summary: 'a Motorola S-record image file', decode: (t) => describeSrec(t as string) }],
  ['uds', { input: 'bytes', summary: 'one UDS (ISO 14229-1) request or response', decode: (b, o) => describeUds(b as Uint8Array, { didLengths: o.didLengths }) }],
  ['isotp', { input: 'frames', summary: 'ISO-TP CAN frame data; several frames separated by | or ;', decode: (f) => describeIsoTp(f as Uint8Array[]) }],
  ['doip', { input: 'bytes', summary: 'DoIP (ISO 13400-2) messages, one or several', decode: (b) => describeDoip(b as Uint8Array) }],
]);

function readInput(args: string[], kind: CliDecoder['input']): Uint8Array | string | Uint8Array[] {
  const joined = args.join(' ');
  if (kind === 'frames') {
    const text = args.length === 1 && existsSync(joined) && statSync(joined).isFile() ? readFileSync(joined, 'utf8') : joined;
    // One frame per `|`, `;` or line; a single frame decodes alone, several are also reassembled.
    const frames = text.split(/[|;\n]/).map((f) => f.trim()).filter((f) => f.length > 0).map(parseHex);
    return frames.length === 1 ? (frames[0] as Uint8Array) : frames;
  }
  if (args.length === 1 && existsSync(joined) && statSync(joined).isFile()) {
    const raw = readFileSync(joined);
    if (kind === 'text') return raw.toString('utf8');
    // A file of hex text (e.g. copied from a trace) or raw binary bytes.
    const text = raw.toString('latin1');
    return /^[\s0-9a-fA-Fx,:-]*$/.test(text) ? parseHex(text) : Uint8Array.from(raw);
  }
  return kind === 'text' ? joined : parseHex(joined);
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode bytes from a trace (uds, isotp, doip) or an image file (ihex, srec) and print JSON')
    .argument('<format>', 'one of: ' + [...decoders.keys()].join(', '))
    .argument('<input...>', 'hex bytes (spaces allowed) or a file')
    .option('--pretty', 'indented output for people')
    .option('--did-length <did=bytes>', 'uds: data length of a DID in a multi-DID response, e.g. F189=8 (repeatable; F186, F190 and the virtual ECU\'s fixed-length DIDs are known)', parseDidLength)
    .action((format: string, input: string[], opts: { pretty?: boolean; didLength?: Map<number, number> }) => {
      const decoder = decoders.get(format);
      if (!decoder) {
        throw new OtaError('CLI_UNKNOWN_FORMAT', `unknown format '${format}' (known: ${[...decoders.keys()].join(', ')})`);
      }
      const didLengths = new Map([...ECU_DID_LENGTHS, ...(opts.didLength ?? [])]);
      const result = decoder.decode(readInput(input, decoder.input), { didLengths });
      writeOut(JSON.stringify(result, jsonReplacer, opts.pretty ? 2 : undefined) + '\n');
    });
}

/** Bytes print as spaced hex and bigints as decimal strings, so every result is valid JSON. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
  if (typeof value === 'bigint') return value.toString();
  return value;
}
