/**
 * The manager (OEM service): fleet registry, remote diagnostics, firmware repository, update jobs, store
 * and HTTP API over the secure channel to every vehicle. Start it with createManager(); the HTTP API is
 * described in README.md.
 */
export { createManager, MANAGER_SUBSCRIPTIONS, MANAGER_VERSION, type Manager, type ManagerOptions, type ManagerStats, type VehicleView } from './manager.js';
export { DEFAULT_DIAG_TIMEOUT_MS, MAX_DIAG_TIMEOUT_MS, type DiagnoseRequest, type DiagResult } from './diagnostics.js';
export { DiagTimeoutError, GatewayDiagError, ManagerError, MANAGER_CODES, type ManagerCode } from './errors.js';
export { API_PREFIX } from './http/server.js';
export { HTTP_STATUS_BY_CODE } from './http/errors.js';
export { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_BROKER_URL, managerPaths, resolveDataDir, type ManagerPaths } from './paths.js';
export { silentLog, stderrLog, type LogLevel, type ManagerLog } from './log.js';
export type { SessionState } from './sessions.js';
export { BlobStore, FIRMWARE_ID_LENGTH, FirmwareRepository, type AddFirmwareInput, type FirmwareRecord } from './firmware/index.js';
export { DEFAULT_JOB_TTL_MS, JobEngine, JobService, chooseChunkSize, type CreateJobInput, type Job, type JobPhase, type JobPlan, type TransferInfo } from './jobs/index.js';
export { FIRMWARE_BODY_LIMIT } from './http/update-routes.js';
export type { AuditEntry, DiagLogEntry, EcuRecord, VehicleRecord } from './store/index.js';
export { ECU_SECRETS_FILE, ECU_SECRETS_KEY_FILE, openEcuSecretStore, type EcuSecretStore } from './ecu-secrets.js';
