/**
 * Runs one diagnostic command against a vehicle through the manager's API and reports it for people
 * (lines) and scripts (JSON). Most commands are one UDS request; `read-did` sends one request per DID
 * (a multi-DID response carries no lengths), and `unlock` is the SecurityAccess exchange:
 *
 *   level   --level, else from the active session (DID F186): programming → 0x11, otherwise 0x01
 *   secret  --secret-file (or - for stdin), else $OTA_ECU_SECRET, else --secret (warned: it is on the command
 *           line), else the manager's key store in the data directory (`ota up` keeps the secrets of the
 *           ECUs it simulates there: <data>/manager/ecu-secrets.json, encrypted, 0600), else a prompt
 *           without echo when standard input is a terminal
 *   27 <level> → 67 <level> <seed>      (an all-zero seed: already unlocked)
 *   key = HMAC-SHA256(secret, seed)[0..seed length)        (ARCHITECTURE.md §2.4, computed here)
 *   27 <level+1> <key> → 67 <level+1>
 *
 * The secret never leaves this process; the key is single-use. The unlock lasts as long as the ECU
 * stays in its non-default session, which the gateway keeps alive with TesterPresent between commands.
 */
import { OtaError } from '../../protocol/errors.js';
import { hexNum, toHex } from '../../protocol/hex.js';
import { DID, decodeResponse, dtcStatusBits, encodeRequest, formatDtc, nrcName, serviceName, type UdsResponse } from '../../protocol/uds/index.js';
import { redactDescription, redactUds, redactUdsHex } from '../../protocol/uds/redact.js';
import { securityAccessKey } from '../../security/access-key.js';
import { openEcuSecretStore, type DiagResult } from '../../manager/index.js';
import type { ApiClient } from '../api-client.js';
import { CLI_SECRET_CODES, promptSecret, resolveSecret, SECRET_ENV, type ChosenSecret, type SecretPromptIo } from '../secret-source.js';
import { requestOf, type DiagAction } from './actions.js';
import { describeDidValue, didInfo, dtcText, sessionName } from './catalog.js';

/** Which ECU of which vehicle, through which manager. */
export interface DiagTarget {
  client: ApiClient;
  vehicleId: string;
  ecu: string;
  /** The manager's overall wait per request (default: the manager's 10 s). */
  timeoutMs?: number;
  /** unlock: the secret when no option or $OTA_ECU_SECRET gives one (the CLI passes the key store's lookup). */
  storedSecret?: (vehicleId: string, ecu: string) => Promise<ChosenSecret | undefined>;
  /** unlock: a terminal to ask the secret on (no echo) when nothing else gives one; none = never ask. */
  terminal?: SecretPromptIo;
  /** unlock: the environment for $OTA_ECU_SECRET (default process.env) and where warnings go (default stderr). */
  env?: NodeJS.ProcessEnv;
  warn?: (text: string) => void;
}

/** What a command did: `ok` false when any answer was negative. */
export interface DiagReport {
  ok: boolean;
  command: DiagAction['verb'];
  vehicleId: string;
  ecu: string;
  /** The command's findings (DID values, DTCs, unlock level), when it has any beyond the exchange. */
  result?: unknown;
  exchanges: DiagResult[];
  /** The report for people, one line each. */
  lines: string[];
}

const SHOWN_BYTES = 48;

/**
 * Hex of a request or response for a line: spaced, cut after 48 bytes; seeds, keys and 0x29 proofs
 * redacted by the one rule (src/protocol/uds/redact.ts).
 */
export function shownHex(hex: string): string {
  const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
  const { visible, redacted } = redactUds(bytes);
  if (redacted > 0) return `${toHex(visible)} <${redacted} bytes redacted>`;
  const head = toHex(bytes.subarray(0, SHOWN_BYTES));
  return bytes.length > SHOWN_BYTES ? `${head} … (${bytes.length} bytes)` : head;
}

function exchangeLines(r: DiagResult): string[] {
  const timing = `${r.elapsedMs} ms${r.pending > 0 ? `, ${r.pending}× response pending` : ''}`;
  return [`> ${shownHex(r.request)}`, r.response === null ? `< (no response: positive response suppressed)  ${timing}` : `< ${shownHex(r.response)}  ${timing}`];
}

function negativeLine(r: DiagResult): string {
  const sid = parseInt(r.request.slice(0, 2), 16);
  const nrc = r.nrc ?? { code: 0, hex: '0x00', name: nrcName(0) };
  return `negative response: ${serviceName(sid) ?? hexNum(sid)} refused with NRC ${nrc.hex} ${nrc.name}`;
}

function valueText(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  const o = v as Record<string, unknown>;
  if (typeof o['hex'] === 'string') return typeof o['ascii'] === 'string' ? `${o['hex']} (${JSON.stringify(o['ascii'])})` : o['hex'] === '' ? '(empty)' : o['hex'];
  return JSON.stringify(v);
}

/** The decoded fields of a positive response as lines (`describeUds`), for commands without their own rendering. */
function decodedLines(r: DiagResult): string[] {
  if (r.response === null) return ['positive (response suppressed)'];
  if (!r.positive) return [negativeLine(r)];
  if (r.decoded === null || typeof r.decoded !== 'object') return [`positive response (not decoded: ${r.decodeError?.code ?? 'unknown'})`];
  // Seeds, keys and 0x29 proofs are not printed (src/protocol/uds/redact.ts).
  const d = redactDescription(r.decoded, r.response) as Record<string, unknown>;
  const head = `${String(d['service'])}${typeof d['subFunction'] === 'string' ? ` ${d['subFunction']}` : ''}: positive response`;
  const skip = new Set(['service', 'direction', 'sid', 'subFunction', 'subFunctionValue', 'suppressPositiveResponse']);
  // A DID without a standard name: the catalog's name (the virtual ECU's own DIDs).
  if (d['name'] === null && typeof d['did'] === 'string') d['name'] = didInfo(parseInt(d['did'], 16)).name;
  return [head, ...Object.entries(d).filter(([k]) => !skip.has(k)).map(([k, v]) => `  ${k}: ${valueText(v)}`)];
}

function decodeLocal(r: DiagResult): UdsResponse | undefined {
  if (r.response === null) return undefined;
  try {
    return decodeResponse(Uint8Array.from(Buffer.from(r.response, 'hex')));
  } catch {
    return undefined;
  }
}

/** Runs `action` on the target; throws ApiError when the manager cannot deliver a request or gets no answer. */
export async function runDiag(target: DiagTarget, action: DiagAction): Promise<DiagReport> {
  const exchanges: DiagResult[] = [];
  const send = async (request: Uint8Array): Promise<DiagResult> => {
    const r = await target.client.diag(target.vehicleId, target.ecu, Buffer.from(request).toString('hex').toUpperCase(), target.timeoutMs);
    exchanges.push(r);
    return r;
  };
  const report = (ok: boolean, lines: string[], result?: unknown): DiagReport => ({
    ok,
    command: action.verb,
    vehicleId: target.vehicleId,
    ecu: target.ecu,
    ...(result === undefined ? {} : { result }),
    exchanges,
    lines,
  });

  switch (action.verb) {
    case 'read-did':
      return readDids(action.dids, send, report);
    case 'unlock':
      return unlock(action, target, send, report);
    case 'read-dtc': {
      const r = await send(requestOf(action));
      const lines = exchangeLines(r);
      const res = decodeLocal(r);
      if (!r.positive || res === undefined || res.kind !== 'positive' || res.service !== 'ReadDTCInformation' || !('dtcs' in res)) {
        return report(r.positive, [...lines, ...decodedLines(r)]);
      }
      const dtcs = res.dtcs.map(({ dtc, status }) => ({ dtc: formatDtc(dtc), status: hexNum(status), statusBits: dtcStatusBits(status), description: dtcText(dtc) ?? null }));
      const table = dtcs.flatMap((d) => [`  ${d.dtc}  ${d.status}  ${d.description ?? '(no description)'}`, `             ${d.statusBits.join(', ')}`]);
      const summary = `${dtcs.length} DTC${dtcs.length === 1 ? '' : 's'} match status mask ${hexNum(action.mask)} (availability mask ${hexNum(res.statusAvailabilityMask)})`;
      return report(true, [...lines, summary, ...table], { statusMask: hexNum(action.mask), statusAvailabilityMask: hexNum(res.statusAvailabilityMask), dtcs });
    }
    default: {
      const r = await send(requestOf(action));
      const lines = [...exchangeLines(r), ...decodedLines(r)];
      if (action.verb === 'session' && r.positive) lines.push(`ECU ${target.ecu} is in the ${sessionName(action.session)} session`);
      if (action.verb === 'write-did' && r.positive) {
        const shown = describeDidValue(action.did, action.data);
        lines.push(`wrote ${hexNum(action.did, 4)} ${didInfo(action.did).name} = ${shown ?? toHex(action.data)}`);
      }
      return report(r.positive, lines);
    }
  }
}

type Send = (request: Uint8Array) => Promise<DiagResult>;
type Report = (ok: boolean, lines: string[], result?: unknown) => DiagReport;

async function readDids(dids: readonly number[], send: Send, report: Report): Promise<DiagReport> {
  const lines: string[] = [];
  const values: Array<Record<string, unknown>> = [];
  let ok = true;
  for (const did of dids) {
    const r = await send(encodeRequest({ service: 'ReadDataByIdentifier', dids: [did] }));
    const info = didInfo(did);
    const label = `${hexNum(did, 4)} ${info.name}`;
    if (!r.positive || r.response === null) {
      ok = false;
      lines.push(`${label.padEnd(34)} ${r.nrc ? `NRC ${r.nrc.hex} ${r.nrc.name}` : 'no response'}`);
      values.push({ did: hexNum(did, 4), name: info.name, nrc: r.nrc ?? null });
      continue;
    }
    const data = Buffer.from(r.response, 'hex').subarray(3);
    const shown = describeDidValue(did, data);
    lines.push(`${label.padEnd(34)} ${shown ?? toHex(data)}${shown !== undefined && info.kind !== 'ascii' ? `  (${toHex(data)})` : ''}`);
    values.push({ did: hexNum(did, 4), name: info.name, hex: toHex(data, ''), ...(shown === undefined ? {} : { value: shown }) });
  }
  return report(ok, lines, values);
}

async function unlock(action: Extract<DiagAction, { verb: 'unlock' }>, target: DiagTarget, send: Send, report: Report): Promise<DiagReport> {
  const lines: string[] = [];
  const readText = async (did: number): Promise<Buffer | undefined> => {
    const r = await send(encodeRequest({ service: 'ReadDataByIdentifier', dids: [did] }));
    if (!r.positive || r.response === null) {
      lines.push(...exchangeLines(r), negativeLine(r));
      return undefined;
    }
    return Buffer.from(r.response, 'hex').subarray(3);
  };

  let level = action.level;
  if (level === undefined) {
    const session = await readText(DID.activeDiagnosticSession);
    if (session === undefined) return report(false, [...lines, 'cannot read the active session (DID F186); give --level']);
    level = session[0] === 0x02 ? 0x11 : 0x01;
  }
  const options = { ...(action.secret === undefined ? {} : { secret: action.secret }), ...(action.secretFile === undefined ? {} : { secretFile: action.secretFile }) };
  const chosen =
    (await resolveSecret(options, target.env ?? process.env, target.warn ?? ((t) => void process.stderr.write(t)), target.terminal)) ??
    (await target.storedSecret?.(target.vehicleId, target.ecu)) ??
    (target.terminal?.input.isTTY === true ? { secret: await promptSecret(target.terminal), source: 'the terminal' } : undefined);
  if (chosen === undefined) {
    throw new OtaError(
      CLI_SECRET_CODES.missing,
      `no SecurityAccess secret for ECU ${target.ecu} of ${target.vehicleId}: give --secret-file <file> (- reads standard input) or $${SECRET_ENV}; \`ota up\` keeps the secrets of the ECUs it simulates in <data>/manager/ecu-secrets.json`,
    );
  }
  const { secret, source: secretSource } = chosen;

  const seedResult = await send(encodeRequest({ service: 'SecurityAccess', securityAccessType: level, data: new Uint8Array(), suppressPositiveResponse: false }));
  lines.push(...exchangeLines(seedResult));
  if (!seedResult.positive || seedResult.response === null) return report(false, [...lines, negativeLine(seedResult)], { level: hexNum(level), unlocked: false });
  const seed = Uint8Array.from(Buffer.from(seedResult.response, 'hex').subarray(2));
  // ISO 14229-1 §10.4.2: an all-zero seed means this level is already unlocked.
  if (seed.length === 0 || seed.every((b) => b === 0)) {
    return report(true, [...lines, `security level ${hexNum(level)} of ${target.ecu} is already unlocked`], { level: hexNum(level), unlocked: true, already: true });
  }
  const key = securityAccessKey(secret, seed);
  const keyResult = await send(encodeRequest({ service: 'SecurityAccess', securityAccessType: level + 1, data: key, suppressPositiveResponse: false }));
  lines.push(...exchangeLines(keyResult));
  if (!keyResult.positive) return report(false, [...lines, `key computed from ${secretSource}`, negativeLine(keyResult)], { level: hexNum(level), unlocked: false });
  lines.push(`unlocked security level ${hexNum(level)} of ${target.ecu} (key computed from ${secretSource})`);
  return report(true, lines, { level: hexNum(level), unlocked: true, already: false });
}

/** An exchange as it may be printed: seeds, keys and 0x29 proofs redacted (src/protocol/uds/redact.ts). */
export function redactExchange(r: DiagResult): DiagResult {
  const response = r.response === null ? null : redactUdsHex(r.response);
  return { ...r, request: redactUdsHex(r.request), response, decoded: r.response === null ? r.decoded : (redactDescription(r.decoded, r.response) as DiagResult['decoded']) };
}

/** The key store lookup for DiagTarget.storedSecret: the manager's key store in `managerDir`. */
export function keyStoreSecret(managerDir: string): (vehicleId: string, ecu: string) => Promise<ChosenSecret | undefined> {
  const store = openEcuSecretStore(managerDir);
  return async (vehicleId, ecu) => {
    const secret = await store.get(vehicleId, ecu);
    return secret === undefined ? undefined : { secret, source: `the key store ${store.file}` };
  };
}

/** The report as the JSON a script reads (exchanges under the redaction rule). */
export function reportJson(r: DiagReport): object {
  return { ok: r.ok, command: r.command, vehicleId: r.vehicleId, ecu: r.ecu, ...(r.result === undefined ? {} : { result: r.result }), exchanges: r.exchanges.map(redactExchange) };
}

