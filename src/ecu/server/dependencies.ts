/**
 * Routine 0xFF01 checkProgrammingDependencies (ISO 14229-1 Annex F.1; ARCHITECTURE.md §3 step 8): the
 * option record is the signed manifest exactly as `ota firmware sign` wrote it. The bootloader accepts
 * the written image only if `verifyUpdate` (src/security/firmware) accepts it — release signature
 * against the fleet CA, hardware id, release counter above the installed one, length and SHA-256 of
 * what was written — and the manifest's load address is where it was written. Only then is the
 * application descriptor recorded. A refusal records nothing (the application stays invalid).
 *
 * NRCs of a refusal (ISO 14229-1:2013 §13.2.4 lists 0x13, 0x22, 0x24, 0x31, 0x33, 0x72 for RoutineControl):
 * - 0x24 requestSequenceError: nothing was downloaded since the erase (or a transfer is still open);
 * - 0x31 requestOutOfRange: the option record is not a signed manifest (routineControlOptionRecord invalid);
 * - 0x22 conditionsNotCorrect: a well-formed manifest this ECU must not accept — bad signature,
 *   untrusted or revoked signer, no trust anchor configured, another hardware id, rollback;
 * - 0x72 generalProgrammingFailure: the flash does not hold the signed image — address, length or
 *   digest mismatch.
 * The detail is in DID 0xFD01 (`DEPENDENCY_RESULT`).
 */
import { OtaError } from '../../protocol/errors.js';
import { NRC } from '../../protocol/uds/nrc.js';
import { verifyUpdate } from '../../security/firmware/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { APP_ERROR, type ApplicationDescriptor } from '../descriptor.js';
import type { EcuNvm } from '../nvm.js';
import { DEPENDENCY_RESULT, type DependencyResult } from './constants.js';
import type { FlashRange } from './programming.js';

/** The refusal of a dependency check: the result code for DID 0xFD01 and the NRC to answer. */
export interface DependencyRefusal {
  ok: false;
  result: DependencyResult;
  nrc: number;
  message: string;
  cause?: unknown;
}

export type DependencyOutcome = { ok: true; descriptor: ApplicationDescriptor } | DependencyRefusal;

/** FW_ and APP_ codes → result code and NRC (see the file comment). */
const REFUSALS: Readonly<Record<string, { result: DependencyResult; nrc: number }>> = {
  FW_MALFORMED: { result: DEPENDENCY_RESULT.malformed, nrc: NRC.requestOutOfRange },
  FW_BAD_SIGNATURE: { result: DEPENDENCY_RESULT.badSignature, nrc: NRC.conditionsNotCorrect },
  FW_UNTRUSTED_SIGNER: { result: DEPENDENCY_RESULT.untrustedSigner, nrc: NRC.conditionsNotCorrect },
  FW_REVOKED_SIGNER: { result: DEPENDENCY_RESULT.revokedSigner, nrc: NRC.conditionsNotCorrect },
  FW_WRONG_HARDWARE: { result: DEPENDENCY_RESULT.wrongHardware, nrc: NRC.conditionsNotCorrect },
  FW_ROLLBACK: { result: DEPENDENCY_RESULT.rollback, nrc: NRC.conditionsNotCorrect },
  FW_ADDRESS_MISMATCH: { result: DEPENDENCY_RESULT.addressMismatch, nrc: NRC.generalProgrammingFailure },
  FW_LENGTH_MISMATCH: { result: DEPENDENCY_RESULT.lengthMismatch, nrc: NRC.generalProgrammingFailure },
  FW_DIGEST_MISMATCH: { result: DEPENDENCY_RESULT.digestMismatch, nrc: NRC.generalProgrammingFailure },
  // The descriptor's own checks repeat verifyUpdate's; they can only fire if the two ever disagree.
  [APP_ERROR.HARDWARE_ID]: { result: DEPENDENCY_RESULT.wrongHardware, nrc: NRC.conditionsNotCorrect },
  [APP_ERROR.ROLLBACK]: { result: DEPENDENCY_RESULT.rollback, nrc: NRC.conditionsNotCorrect },
  [APP_ERROR.RANGE]: { result: DEPENDENCY_RESULT.addressMismatch, nrc: NRC.generalProgrammingFailure },
  [APP_ERROR.FORMAT]: { result: DEPENDENCY_RESULT.malformed, nrc: NRC.requestOutOfRange },
  [APP_ERROR.DIGEST]: { result: DEPENDENCY_RESULT.digestMismatch, nrc: NRC.generalProgrammingFailure },
};

function refusal(result: DependencyResult, nrc: number, message: string, cause?: unknown): DependencyRefusal {
  return cause === undefined ? { ok: false, result, nrc, message } : { ok: false, result, nrc, message, cause };
}

/** What the check needs besides the option record. */
export interface DependencyCheckInput {
  signedManifest: Uint8Array;
  /** What was written since the erase (`Programming.writtenExtent()`), or null. */
  written: FlashRange | null;
  nvm: EcuNvm;
  /** The fleet CA the release certificate must chain to; without one nothing is ever accepted. */
  trust: TrustStore | undefined;
  /** Time for certificate validity. */
  now: Date;
}

/** Runs the check; on success the application descriptor has been recorded. Never throws for a refusal. */
export async function checkProgrammingDependencies(input: DependencyCheckInput): Promise<DependencyOutcome> {
  const { written, nvm } = input;
  if (written === null) {
    return refusal(DEPENDENCY_RESULT.nothingWritten, NRC.requestSequenceError, 'no download was completed since the erase');
  }
  if (input.trust === undefined) {
    return refusal(DEPENDENCY_RESULT.noTrustAnchor, NRC.conditionsNotCorrect, 'this ECU has no trusted fleet CA configured');
  }
  try {
    const installed = { counter: nvm.application.installedCounter(), hardwareId: nvm.hardwareId() };
    const image = nvm.flash.read(written.start, written.end - written.start);
    const { manifest } = await verifyUpdate({ signedManifest: input.signedManifest, image, installed, expect: {}, trust: input.trust, now: input.now });
    if (manifest.loadAddress !== written.start) {
      return refusal(DEPENDENCY_RESULT.addressMismatch, NRC.generalProgrammingFailure,
        `the manifest loads at 0x${manifest.loadAddress.toString(16)}, the image was written at 0x${written.start.toString(16)}`);
    }
    const descriptor = nvm.application.install({
      start: manifest.loadAddress,
      length: manifest.length,
      sha256: manifest.sha256,
      version: manifest.version,
      counter: manifest.counter,
      hardwareId: manifest.hardwareId,
    });
    return { ok: true, descriptor };
  } catch (e) {
    const mapped = e instanceof OtaError ? REFUSALS[e.code] : undefined;
    if (mapped !== undefined) return refusal(mapped.result, mapped.nrc, (e as Error).message, e);
    if (e instanceof OtaError && e.code.startsWith('FW_')) {
      return refusal(DEPENDENCY_RESULT.otherRefusal, NRC.conditionsNotCorrect, e.message, e);
    }
    throw e;
  }
}
