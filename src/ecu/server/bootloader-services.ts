/**
 * The bootloader's programming services (ISO 14229-1:2013 §13.2 RoutineControl, §14.2 RequestDownload,
 * §14.4 TransferData, §14.5 RequestTransferExit) on top of `Programming` and the dependency check.
 * `admit` (gate.ts) has already required the programming session (and, for 0x34/0x36/0x37, security
 * level 0x11).
 */
import { ROUTINE_ID } from '../../protocol/uds/constants.js';
import { NRC, UdsNegativeError } from '../../protocol/uds/nrc.js';
import { encodeResponse } from '../../protocol/uds/response.js';
import type {
  RequestDownloadRequest,
  RequestTransferExitRequest,
  RoutineControlRequest,
  TransferDataRequest,
} from '../../protocol/uds/types.js';
import { SA_LEVEL } from '../security-access.js';
import { DEPENDENCY_RESULT, ROUTINE_STATUS_OK } from './constants.js';
import type { LinkConfig, Outcome, ServerCore } from './core.js';
import { checkProgrammingDependencies } from './dependencies.js';
import { effectiveTrust, installRevocationList } from './revocation.js';

const ROUTINES: ReadonlySet<number> = new Set(Object.values(ROUTINE_ID));

/** The last routineStatusRecord of each routine since the last reset, for requestRoutineResults (0x03). */
export type RoutineResults = Map<number, Uint8Array>;

/**
 * RoutineControl (§13.2): startRoutine (0x01) and requestRoutineResults (0x03) of 0xFF00 eraseMemory,
 * 0x0202 checkMemory, 0x0203 installRevocationList (revocation.ts) and 0xFF01 checkProgrammingDependencies. Order of checks per §13.2.4: routine
 * supported (0x31), security level 0x11 (0x33), then the routine's own.
 */
export async function routineControl(core: ServerCore, req: RoutineControlRequest, results: RoutineResults): Promise<Outcome> {
  const id = req.routineIdentifier;
  if (!ROUTINES.has(id)) throw new UdsNegativeError(NRC.requestOutOfRange, `routine 0x${id.toString(16)} is not supported`);
  if (core.nvm.security.unlockedLevel !== SA_LEVEL.programming.requestSeed) {
    throw new UdsNegativeError(NRC.securityAccessDenied, `routine 0x${id.toString(16)} needs security level 0x11`);
  }
  let statusRecord: Uint8Array;
  if (req.routineControlType === 0x03) {
    // §13.2.4: results of a routine that has not run (since the reset) → NRC 0x24.
    if (req.optionRecord.length > 0) throw new UdsNegativeError(NRC.incorrectMessageLengthOrInvalidFormat, 'requestRoutineResults takes no option record');
    const last = results.get(id);
    if (last === undefined) throw new UdsNegativeError(NRC.requestSequenceError, `routine 0x${id.toString(16)} has no results`);
    statusRecord = last;
  } else {
    statusRecord = await startRoutine(core, id, req.optionRecord);
    results.set(id, statusRecord);
  }
  const response = encodeResponse({
    kind: 'positive',
    service: 'RoutineControl',
    routineControlType: req.routineControlType,
    routineIdentifier: id,
    statusRecord,
  });
  return { response, suppress: req.suppressPositiveResponse };
}

async function startRoutine(core: ServerCore, id: number, optionRecord: Uint8Array): Promise<Uint8Array> {
  switch (id) {
    case ROUTINE_ID.eraseMemory:
      return core.programming.erase(optionRecord);
    case ROUTINE_ID.checkMemory:
      return core.programming.checkMemory(optionRecord);
    case ROUTINE_ID.installRevocationList:
      return installRevocationList(core, optionRecord);
    default:
      return checkDependencies(core, optionRecord);
  }
}

async function checkDependencies(core: ServerCore, signedManifest: Uint8Array): Promise<Uint8Array> {
  await core.programming.settled(); // judge flash once no buffered block is still being programmed
  // §13.2.4: the dependency check of an open transfer is out of sequence → NRC 0x24.
  if (core.programming.downloadActive) {
    core.dependencyResult = DEPENDENCY_RESULT.nothingWritten;
    throw new UdsNegativeError(NRC.requestSequenceError, 'checkProgrammingDependencies before RequestTransferExit');
  }
  const outcome = await checkProgrammingDependencies({
    signedManifest,
    written: core.programming.writtenExtent(),
    nvm: core.nvm,
    trust: await effectiveTrust(core),
    now: core.config.now(),
  });
  core.dependencyResult = outcome.ok ? DEPENDENCY_RESULT.accepted : outcome.result;
  if (!outcome.ok) throw new UdsNegativeError(outcome.nrc, outcome.message, { cause: outcome.cause });
  return Uint8Array.of(ROUTINE_STATUS_OK);
}

/** RequestDownload (§14.2): `74 20 <maxNumberOfBlockLength:2>` for the link the request came in on. */
export function requestDownload(core: ServerCore, req: RequestDownloadRequest, link: LinkConfig): Outcome {
  const maxNumberOfBlockLength = core.programming.requestDownload(req, link.maxBlockLength);
  return {
    response: encodeResponse({ kind: 'positive', service: 'RequestDownload', maxNumberOfBlockLength, maxNumberOfBlockLengthBytes: 2 }),
  };
}

/** TransferData (§14.4): `76 <BSC>` as soon as the block is buffered; it is programmed in the background. */
export async function transferData(core: ServerCore, req: TransferDataRequest): Promise<Outcome> {
  await core.programming.transferData(req.blockSequenceCounter, req.data);
  return {
    response: encodeResponse({ kind: 'positive', service: 'TransferData', blockSequenceCounter: req.blockSequenceCounter, data: new Uint8Array() }),
  };
}

/** RequestTransferExit (§14.5): `77` once every buffered block is programmed (`7F 37 78` meanwhile, if long). */
export async function requestTransferExit(core: ServerCore, req: RequestTransferExitRequest): Promise<Outcome> {
  await core.programming.transferExit(req.parameterRecord);
  return { response: encodeResponse({ kind: 'positive', service: 'RequestTransferExit', parameterRecord: new Uint8Array() }) };
}
