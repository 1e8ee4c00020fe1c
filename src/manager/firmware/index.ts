/** The firmware repository: signed releases verified against the fleet CA, images stored by SHA-256. */
export { BlobStore, sha256Hex } from './blobs.js';
export { FIRMWARE_ID_LENGTH, FirmwareRepository, type AddFirmwareInput, type FirmwareRecord, type RepositoryOptions } from './repository.js';
