/**
 * The general server response behaviour of ISO 14229-1:2013 §7.5 (Figure 5), checked before a request
 * is decoded: service supported at all (NRC 0x11) → in the active session (0x7F) → service-level
 * security (0x33) → minimum length (0x13) → sub-function supported (0x12) → in the active session
 * (0x7E). The codec then checks total length and format (0x13) and ranges (0x31); the services check
 * the rest. The tables are per mode: the bootloader and the application support different services.
 */
import { SERVICES_WITH_SUB_FUNCTION, serviceOfSid } from '../../protocol/uds/constants.js';
import { NRC, UdsNegativeError } from '../../protocol/uds/nrc.js';
import { SA_LEVEL } from '../security-access.js';
import { SESSION, type EcuMode, type Session } from './constants.js';

interface ServiceRule {
  /** Sessions the service is supported in. */
  readonly sessions: readonly Session[];
  /** SecurityAccess level (its requestSeed sub-function) the whole service needs. */
  readonly securityLevel?: number;
  /** Supported sub-functions (bit 7 removed) and the sessions each is supported in. */
  readonly subFunctions?: Readonly<Record<number, readonly Session[]>>;
}

const { default: DEF, programming: PROG, extended: EXT } = SESSION;
const ALL = [DEF, PROG, EXT] as const;
const DEF_EXT = [DEF, EXT] as const;
const EXT_PROG = [EXT, PROG] as const;

function each(subFunctions: readonly number[], sessions: readonly Session[]): Record<number, readonly Session[]> {
  return Object.fromEntries(subFunctions.map((s) => [s, sessions]));
}

/** ControlTypes 0x00–0x03 of CommunicationControl (0x04/0x05 need node addressing we do not have). */
const CC_TYPES = [0x00, 0x01, 0x02, 0x03];
const PROGRAMMING_ONLY: ServiceRule = { sessions: [PROG], securityLevel: SA_LEVEL.programming.requestSeed };

/**
 * The application: diagnostics in the default and extended sessions. Services of the programming
 * session (0x31, 0x34, 0x36, 0x37) are the bootloader's: the application answers them 0x7F.
 */
const APPLICATION: Readonly<Record<number, ServiceRule>> = {
  0x10: { sessions: DEF_EXT, subFunctions: { 0x01: DEF_EXT, 0x02: [EXT], 0x03: DEF_EXT } },
  0x11: { sessions: DEF_EXT, subFunctions: each([0x01, 0x03], DEF_EXT) },
  0x14: { sessions: DEF_EXT },
  0x19: { sessions: DEF_EXT, subFunctions: each([0x01, 0x02, 0x04, 0x06, 0x0a], DEF_EXT) },
  0x22: { sessions: DEF_EXT },
  0x27: { sessions: [EXT], subFunctions: { ...each([0x01, 0x02], [EXT]), ...each([0x11, 0x12], [PROG]) } },
  0x28: { sessions: [EXT], subFunctions: each(CC_TYPES, [EXT]) },
  0x2e: { sessions: [EXT] },
  0x31: PROGRAMMING_ONLY,
  0x34: PROGRAMMING_ONLY,
  0x36: PROGRAMMING_ONLY,
  0x37: PROGRAMMING_ONLY,
  0x3e: { sessions: ALL, subFunctions: { 0x00: ALL } },
  0x85: { sessions: [EXT], subFunctions: each([0x01, 0x02], [EXT]) },
};

/**
 * The bootloader: session control, reset, identification, security, and programming in the
 * programming session. It has no DTC memory services (0x14, 0x19 → 0x11). CommunicationControl and
 * ControlDTCSetting are accepted in extended and programming sessions so a flash sequence's optional
 * step 1 works whichever software runs.
 */
const BOOTLOADER: Readonly<Record<number, ServiceRule>> = {
  0x10: { sessions: ALL, subFunctions: each([0x01, 0x02, 0x03], ALL) },
  0x11: { sessions: ALL, subFunctions: each([0x01, 0x03], ALL) },
  0x22: { sessions: ALL },
  0x27: { sessions: EXT_PROG, subFunctions: { ...each([0x01, 0x02], [EXT]), ...each([0x11, 0x12], [PROG]) } },
  0x28: { sessions: EXT_PROG, subFunctions: each(CC_TYPES, EXT_PROG) },
  0x2e: { sessions: EXT_PROG },
  0x31: { sessions: [PROG], subFunctions: each([0x01, 0x03], [PROG]) },
  0x34: PROGRAMMING_ONLY,
  0x36: PROGRAMMING_ONLY,
  0x37: PROGRAMMING_ONLY,
  0x3e: { sessions: ALL, subFunctions: { 0x00: ALL } },
  0x85: { sessions: EXT_PROG, subFunctions: each([0x01, 0x02], EXT_PROG) },
};

const RULES: Readonly<Record<EcuMode, Readonly<Record<number, ServiceRule>>>> = { application: APPLICATION, bootloader: BOOTLOADER };

function refuse(nrc: number, message: string): UdsNegativeError {
  return new UdsNegativeError(nrc, message);
}

/** The request SIDs `mode` supports in some session (for documentation and tests). */
export function supportedServices(mode: EcuMode): number[] {
  return Object.keys(RULES[mode]).map(Number).sort((a, b) => a - b);
}

/**
 * Throws the NRC ISO 14229-1 §7.5 gives a request this mode and session cannot take, before decoding.
 * `unlockedLevel` is the SecurityAccess level currently unlocked (or null).
 */
export function admit(request: Uint8Array, mode: EcuMode, session: Session, unlockedLevel: number | null): void {
  const sid = request[0] as number;
  const rule = RULES[mode][sid];
  // §7.5: a SID the server does not support (in this software) → NRC 0x11.
  if (rule === undefined) throw refuse(NRC.serviceNotSupported, `service 0x${sid.toString(16)} is not supported by the ${mode}`);
  // §7.5: supported, but not in the active session → NRC 0x7F.
  if (!rule.sessions.includes(session)) {
    throw refuse(NRC.serviceNotSupportedInActiveSession, `service 0x${sid.toString(16)} is not supported in session 0x${session.toString(16)}`);
  }
  // §7.5: the service needs a security level that is not unlocked → NRC 0x33.
  if (rule.securityLevel !== undefined && unlockedLevel !== rule.securityLevel) {
    throw refuse(NRC.securityAccessDenied, `service 0x${sid.toString(16)} needs security level 0x${rule.securityLevel.toString(16)}`);
  }
  const service = serviceOfSid(sid);
  if (service === undefined || !SERVICES_WITH_SUB_FUNCTION.has(service) || rule.subFunctions === undefined) return;
  // §7.5: a sub-function service shorter than SID + sub-function → NRC 0x13.
  if (request.length < 2) throw refuse(NRC.incorrectMessageLengthOrInvalidFormat, 'request without its sub-function');
  const sub = (request[1] as number) & 0x7f;
  const sessions = rule.subFunctions[sub];
  // §7.5: a sub-function the server does not support → NRC 0x12.
  if (sessions === undefined) throw refuse(NRC.subFunctionNotSupported, `sub-function 0x${sub.toString(16)} of service 0x${sid.toString(16)} is not supported`);
  // §7.5: supported, but not in the active session → NRC 0x7E.
  if (!sessions.includes(session)) {
    throw refuse(NRC.subFunctionNotSupportedInActiveSession, `sub-function 0x${sub.toString(16)} of service 0x${sid.toString(16)} is not supported in session 0x${session.toString(16)}`);
  }
}
