/**
 * Which ECUs a simulated vehicle has and how they are attached (`--ecu name=<where>`):
 *
 *   engine=can                     a virtual ECU on the vehicle's CAN bus, ids by name (ARCHITECTURE §3)
 *   aux=can://0x7E2/0x7EA          a virtual ECU on the bus with explicit request / response ids
 *   engine=doip://127.0.0.1:13400  an external DoIP ECU, logical address by name (engine 0x0010, body 0x0011)
 *   aux=doip://host:port/0x0012    an external DoIP ECU with an explicit logical address
 */
import { OtaError } from '../../protocol/errors.js';

/** ARCHITECTURE §3: ECU addressing of the virtual vehicle. */
export const DEFAULT_ECU_ADDRESSES = {
  engine: { requestId: 0x7e0, responseId: 0x7e8, logicalAddress: 0x0010 },
  body: { requestId: 0x7e1, responseId: 0x7e9, logicalAddress: 0x0011 },
} as const;

export const FUNCTIONAL_CAN_ID = 0x7df;
export const DEFAULT_DOIP_PORT = 13400;

export type SimEcuSpec =
  | { name: string; link: 'can'; requestId: number; responseId: number }
  | { name: string; link: 'doip'; host: string; port: number; logicalAddress: number };

/** The default vehicle: engine and body as virtual ECUs on one CAN bus. */
export function defaultEcuSpecs(): SimEcuSpec[] {
  return (['engine', 'body'] as const).map((name) => ({ name, link: 'can', requestId: DEFAULT_ECU_ADDRESSES[name].requestId, responseId: DEFAULT_ECU_ADDRESSES[name].responseId }));
}

function bad(text: string, why: string): OtaError {
  return new OtaError('SIM_ECU_SPEC', `--ecu '${text}': ${why} (forms: name=can, name=can://0x7E2/0x7EA, name=doip://host:port[/0x0010])`);
}

function parseId(text: string, value: string, max: number): number {
  if (!/^(0x)?[0-9a-f]{1,8}$/i.test(value)) throw bad(text, `'${value}' is not a hex number`);
  const n = parseInt(value.replace(/^0x/i, ''), 16);
  if (n > max) throw bad(text, `0x${n.toString(16)} is out of range`);
  return n;
}

function known(name: string): (typeof DEFAULT_ECU_ADDRESSES)[keyof typeof DEFAULT_ECU_ADDRESSES] | undefined {
  return Object.hasOwn(DEFAULT_ECU_ADDRESSES, name) ? DEFAULT_ECU_ADDRESSES[name as keyof typeof DEFAULT_ECU_ADDRESSES] : undefined;
}

/** Parses one `name=<where>` spec; throws `SIM_ECU_SPEC`. */
export function parseEcuSpec(text: string): SimEcuSpec {
  const eq = text.indexOf('=');
  const name = eq < 0 ? '' : text.slice(0, eq);
  const where = eq < 0 ? '' : text.slice(eq + 1);
  if (!/^[a-z][a-z0-9_-]{0,31}$/i.test(name)) throw bad(text, 'the name must be 1-32 letters, digits, _ or -, starting with a letter');
  const defaults = known(name);
  if (where === 'can') {
    if (defaults === undefined) throw bad(text, `no default CAN ids for '${name}'`);
    return { name, link: 'can', requestId: defaults.requestId, responseId: defaults.responseId };
  }
  const can = /^can:\/\/([^/]+)\/([^/]+)$/i.exec(where);
  if (can) return { name, link: 'can', requestId: parseId(text, can[1] as string, 0x7ff), responseId: parseId(text, can[2] as string, 0x7ff) };
  const doip = /^doip:\/\/(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?(?:\/([^/]+))?$/i.exec(where);
  if (doip) {
    const host = (doip[1] as string).replace(/^\[|\]$/g, '');
    const port = doip[2] === undefined ? DEFAULT_DOIP_PORT : Number(doip[2]);
    if (port < 1 || port > 65535) throw bad(text, `port ${port} is out of range`);
    const logicalAddress = doip[3] === undefined ? defaults?.logicalAddress : parseId(text, doip[3], 0xffff);
    if (logicalAddress === undefined) throw bad(text, `no default DoIP logical address for '${name}': add /0x…`);
    return { name, link: 'doip', host, port, logicalAddress };
  }
  throw bad(text, 'unknown attachment');
}

/** The address the gateway reports for an ECU: CAN request id `0x7E0` or DoIP logical address `0x0010`. */
export function ecuAddress(spec: SimEcuSpec): string {
  return spec.link === 'can'
    ? '0x' + spec.requestId.toString(16).toUpperCase().padStart(3, '0')
    : '0x' + spec.logicalAddress.toString(16).toUpperCase().padStart(4, '0');
}
