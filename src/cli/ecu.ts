/**
 * `ota ecu`: one virtual ECU standalone behind DoIP — creates its state directory on first start (blank
 * application: it stays in the bootloader), serves UDS on DoIP TCP (and vehicle identification on UDP, same
 * port), logs each request and response on one line, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createVirtualEcu, type BootState, type VirtualEcu } from '../ecu/server/index.js';
import { BOOT_REASON } from '../ecu/server/constants.js';
import { startDoipServer, type DoipServer, type DoipServerEvent } from '../ecu/links/doip-server.js';
import { DEFAULT_IDENTITY, IDENT_DID } from '../ecu/state.js';
import { DOIP_DEFAULT_MAX_PAYLOAD_LENGTH, DOIP_DEFAULTS, doipCodeName } from '../protocol/doip/index.js';
import { hexNum, parseHex, toHex } from '../protocol/hex.js';
import { NEGATIVE_RESPONSE_SID, nrcName } from '../protocol/uds/nrc.js';
import { redactUds } from '../protocol/uds/redact.js';
import { POSITIVE_RESPONSE_OFFSET, serviceName } from '../protocol/uds/constants.js';
import { trustStoreFromPem } from '../security/pki/verify.js';
import { processIo, type CliIo } from './pki.js';
import { processTerminal, resolveSecret } from './secret-source.js';
import { writeErr } from './terminal.js';

/** DoIP logical addresses of the named ECUs of the virtual vehicle (ARCHITECTURE.md §3). */
const NAMED_ADDRESSES: Readonly<Record<string, number>> = { engine: DOIP_DEFAULTS.engineAddress, body: DOIP_DEFAULTS.bodyAddress };
/** Bytes of a UDS message shown in a log line; the rest is counted, not printed (TransferData is 2 KiB). */
const LOG_BYTES = 32;

/** `host:port`, `[v6]:port` or `host` (port 13400). */
export function parseDoipEndpoint(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value);
  const port = m?.[3] === undefined ? DOIP_DEFAULTS.port : Number(m[3]);
  if (m === null || port > 0xffff) throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:13400 (port 0 = any free port)');
  return { host: (m[1] ?? m[2]) as string, port };
}

/** An ECU logical address (ISO 13400-2: 0x0001–0x0DFF or 0x1000–0x7FFF; testers use 0x0E00–0x0FFF). */
export function parseLogicalAddress(value: string): number {
  const n = /^0x[0-9a-f]{1,4}$/i.test(value) ? parseInt(value.slice(2), 16) : /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!((n >= 0x0001 && n <= 0x0dff) || (n >= 0x1000 && n <= 0x7fff))) {
    throw new InvalidArgumentError('expected an ECU logical address 0x0001–0x0DFF or 0x1000–0x7FFF');
  }
  return n;
}

/** The SecurityAccess secret as hex, 16–64 bytes. */
export function parseSecret(value: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = parseHex(value);
  } catch {
    throw new InvalidArgumentError('expected the secret as hex digits');
  }
  if (bytes.length < 16 || bytes.length > 64) throw new InvalidArgumentError('expected a secret of 16 to 64 bytes');
  return bytes;
}

/** A VIN as ISO 3779 writes it: 17 characters, digits and capitals without I, O, Q. */
export function parseVin(value: string): string {
  if (!/^[A-HJ-NPR-Z0-9]{17}$/.test(value)) throw new InvalidArgumentError('expected a 17-character VIN (0-9, A-Z without I, O, Q)');
  return value;
}

/** A request or a response, as the link saw it. */
export type UdsDirection = 'request' | 'response';

/** What a person reads about a UDS message: service, and for responses positive or the NRC's name. */
function describeMessage(bytes: Uint8Array, direction: UdsDirection): string {
  const sid = bytes[0];
  if (sid === undefined) return 'empty';
  if (direction === 'request') return serviceName(sid) ?? `unknown service ${hexNum(sid)}`;
  if (sid === NEGATIVE_RESPONSE_SID) {
    const request = bytes[1] ?? 0;
    const nrc = bytes[2] ?? 0;
    return `${serviceName(request) ?? hexNum(request)} NRC ${hexNum(nrc)} ${nrcName(nrc)}`;
  }
  const service = serviceName(sid - POSITIVE_RESPONSE_OFFSET);
  return service !== undefined ? `${service} positive response` : `unknown response SID ${hexNum(sid)}`;
}

/**
 * The bytes of a UDS message for a log, under the one redaction rule (src/protocol/uds/redact.ts):
 * SecurityAccess seeds and keys and Authentication (0x29) proofs show only SID and sub-function — they
 * never reach a log — and long messages are cut.
 */
export function formatUdsForLog(bytes: Uint8Array, direction: UdsDirection): string {
  const { visible, redacted } = redactUds(bytes);
  if (redacted > 0) return `${toHex(visible)} <${redacted} bytes redacted>  ${describeMessage(bytes, direction)}`;
  const shown = toHex(bytes.subarray(0, LOG_BYTES));
  const more = bytes.length > LOG_BYTES ? ` … (${bytes.length} bytes)` : '';
  return `${shown}${more}  ${describeMessage(bytes, direction)}`;
}

function bootText(state: BootState): string {
  switch (state.reason) {
    case BOOT_REASON.applicationStarted:
      return 'application running';
    case BOOT_REASON.noDescriptor:
      return 'bootloader: no valid application';
    case BOOT_REASON.descriptorRange:
      return 'bootloader: application descriptor out of range';
    case BOOT_REASON.descriptorLength:
      return 'bootloader: application length invalid';
    case BOOT_REASON.applicationErased:
      return 'bootloader: application erased';
    case BOOT_REASON.applicationDigest:
      return 'bootloader: application digest mismatch';
    case BOOT_REASON.programmingRequested:
      return 'bootloader: programming session requested';
    default:
      return `${state.mode}: reason ${hexNum(state.reason)}`;
  }
}

/** One log line per server event. */
export function formatDoipEvent(event: DoipServerEvent): string {
  switch (event.kind) {
    case 'connected':
      return `doip ${event.remote} connected`;
    case 'activation':
      return `doip ${event.remote} routing activation ${hexNum(event.sourceAddress, 4)} type ${hexNum(event.activationType)} -> ${hexNum(event.responseCode)} ${doipCodeName('routingActivationResponse', event.responseCode)}`;
    case 'request':
      return `req  ${hexNum(event.sourceAddress, 4)} -> ${hexNum(event.targetAddress, 4)}  ${formatUdsForLog(event.data, 'request')}`;
    case 'response':
      return `resp ${hexNum(event.sourceAddress, 4)} -> ${hexNum(event.targetAddress, 4)}  ${formatUdsForLog(event.data, 'response')}`;
    case 'diagnosticNack':
      return `doip ${event.remote} diagnostic NACK ${hexNum(event.nackCode)} ${doipCodeName('diagnosticNack', event.nackCode)} (${hexNum(event.sourceAddress, 4)} -> ${hexNum(event.targetAddress, 4)})`;
    case 'headerNack':
      return `doip ${event.remote} generic NACK ${hexNum(event.nackCode)} ${doipCodeName('genericNack', event.nackCode)}`;
    case 'handlerError':
      return `ecu internal error answering ${hexNum(event.targetAddress, 4)}: ${event.error instanceof Error ? event.error.message : String(event.error)}`;
    case 'closed':
      return `doip ${event.remote} closed: ${event.reason}`;
    case 'announcement':
      return `doip vehicle announcement ${event.n}/${event.count} to ${event.to}${event.error === undefined ? '' : ` failed: ${event.error}`}`;
  }
}

/** A locally administered, MAC-like EID, stable for one ECU name and address. */
function entityId(name: string, address: number): Uint8Array {
  const digest = createHash('sha256').update(`ota-ecu/${name}/${address}`).digest();
  const eid = Uint8Array.from(digest.subarray(0, 6));
  eid[0] = ((eid[0] as number) & 0xfc) | 0x02; // unicast, locally administered (IEEE 802)
  return eid;
}

interface EcuCommandOptions {
  doip: { host: string; port: number };
  state: string;
  trust: string;
  crl?: string;
  secret?: Uint8Array;
  secretFile?: string;
  model?: string;
  vin?: string;
  timing: 'physical' | 'none';
  name: string;
  address?: number;
  /** Where the start-up vehicle announcements go; false: `--no-announce`; undefined: the default. */
  announce?: { host: string; port: number } | false;
  reprovision?: boolean;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function runEcu(opts: EcuCommandOptions, io: CliIo, err: CliIo): Promise<void> {
  const address = opts.address ?? NAMED_ADDRESSES[opts.name] ?? DOIP_DEFAULTS.engineAddress;
  const terminal = processTerminal();
  const given = await resolveSecret({ ...(opts.secret === undefined ? {} : { secret: opts.secret }), ...(opts.secretFile === undefined ? {} : { secretFile: opts.secretFile }) }, process.env, (t) => err.out(t), terminal);
  const trust = await trustStoreFromPem(await readFile(opts.trust, 'utf8'), opts.crl === undefined ? undefined : await readFile(opts.crl, 'utf8'));
  const ecu: VirtualEcu = createVirtualEcu({
    stateDir: opts.state,
    trust,
    timing: opts.timing === 'physical',
    ...(opts.model === undefined ? {} : { model: opts.model }),
    ...(opts.vin === undefined ? {} : { identity: { vin: opts.vin } }),
    ...(given === undefined ? {} : { secret: given.secret }),
    ...(opts.reprovision === true ? { reprovision: true, reprovisionLog: (line: string) => io.out(line + '\n') } : {}),
  });
  const kept = ecu.nvm.securitySecret;
  io.out(
    given !== undefined
      ? `ecu ${opts.name} SecurityAccess secret from ${given.source}\n`
      : `ecu ${opts.name} SecurityAccess secret in ${kept.file ?? '(memory)'} (${kept.created ? 'made now: random, 0600' : 'kept from its first start'}); testers read it with --secret-file ${kept.file ?? '<file>'}\n`,
  );
  let server: DoipServer;
  try {
    const stored = ecu.nvm.state.readDid(IDENT_DID.vin);
    const vin = stored === undefined ? DEFAULT_IDENTITY.vin : Buffer.from(stored).toString('latin1');
    server = await startDoipServer({
      targets: new Map([[address, ecu.handlerFor({ maxBlockLength: DOIP_DEFAULT_MAX_PAYLOAD_LENGTH - 4 })]]),
      host: opts.doip.host,
      port: opts.doip.port,
      udp: vin.length === 17 ? { vin, eid: entityId(opts.name, address) } : false,
      announce: opts.announce === false ? false : opts.announce === undefined ? {} : { address: opts.announce.host, port: opts.announce.port },
      onEvent: (event) => io.out(formatDoipEvent(event) + '\n'),
    });
  } catch (e) {
    ecu.close();
    throw e;
  }
  const offBoot = ecu.onBoot((state) => io.out(`ecu ${opts.name} reset: ${bootText(state)}\n`));
  const { host, port } = server.address;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  io.out(`ecu ${opts.name} listening on doip://${shownHost}:${port} logical address ${hexNum(address, 4)} (${bootText(ecu.bootState())})\n`);
  const signal = await untilSignal();
  offBoot();
  await server.close();
  ecu.close(); // stops the ECU's timers and closes its state files (every write is already durable)
  io.out(`ecu ${opts.name} stopped (${signal})\n`);
}

/** Adds `ota ecu`. */
export function registerEcu(program: Command, io: CliIo = processIo): void {
  program
    .command('ecu')
    .description('run one virtual ECU (STM32F103 bootloader + application) behind DoIP until SIGINT/SIGTERM')
    .option('--doip <host:port>', 'DoIP address to listen on (port 0: any free port)', parseDoipEndpoint, { host: '127.0.0.1', port: DOIP_DEFAULTS.port })
    .requiredOption('--state <dir>', 'state directory (flash.bin, state.json); created on first start')
    .requiredOption('--trust <ca.pem>', 'fleet CA certificate (PEM) that release certificates of signed manifests must chain to')
    .option('--crl <crl.pem>', 'certificate revocation list of that CA (PEM)')
    .option('--secret-file <file>', 'SecurityAccess secret, 16–64 bytes hex in a file (- reads standard input, or asks without echo on a terminal); or set $OTA_ECU_SECRET. Default: the ECU\'s own random secret, made at first start in <state>/security-secret (0600)')
    .option('--secret <hex>', 'SecurityAccess secret as hex on the command line (deprecated: readable by every user through /proc/<pid>/cmdline; use --secret-file)', parseSecret)
    .option('--model <model>', 'flash model of a new ECU (stm32f103c8, stm32f103cb, …)')
    .option('--vin <vin>', 'VIN of a new ECU (DID 0xF190)', parseVin)
    .addOption(new Option('--timing <model>', 'flash timing: physical (datasheet erase/program times) or none').choices(['physical', 'none']).default('none'))
    .option('--reprovision', 're-provision an ECU whose state.json or flash.bin was lost (refused otherwise: ECU_STATE_MISSING / FLASH_STATE_MISSING); the rollback floor is kept from the copy left')
    .option('--name <name>', 'ECU name for logs (engine, body, …)', 'engine')
    .option('--address <address>', 'DoIP logical address (default: engine 0x0010, body 0x0011)', parseLogicalAddress)
    .option('--announce <host:port>', 'where the 3 DoIP vehicle announcements at start go (default: the --doip host on loopback, else 255.255.255.255; port 13400)', parseDoipEndpoint)
    .option('--no-announce', 'send no vehicle announcements at start (identification requests are still answered)')
    .action(async (opts: EcuCommandOptions) => runEcu(opts, io, { out: writeErr }));
}
