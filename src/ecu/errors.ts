/**
 * Refusals about one of the ECU's non-volatile files (`flash.bin`, `flash.wear`, `flash.meta.json`,
 * `state.json`). They carry the file's path, so whoever runs the ECU (one vehicle of a simulated fleet,
 * `ota ecu`) can say which file of which ECU is damaged instead of a bare "state.json is not JSON".
 */
import { OtaError } from '../protocol/errors.js';

/** A state file that cannot be read or does not hold what it must; `path` names it. */
export class EcuFileError extends OtaError {
  /** The file at fault (absolute or as given to `openNvm`). */
  readonly path: string;

  constructor(code: string, path: string, problem: string, options: { cause?: unknown } = {}) {
    super(code, `${path}: ${problem}`, options);
    this.path = path;
  }
}
