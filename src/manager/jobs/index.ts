/** Update jobs: the service (create, list, show, cancel), the engine that runs them, flow control. */
export { JobEngine, INSTALL_PHASES, type EngineSessions, type JobEngineOptions, type JobEngineStats } from './engine.js';
export { Run, type RunCounters, type RunHost } from './run.js';
export { JOB_STATES, type Job, type JobPhase, type TransferInfo } from './records.js';
export { DEFAULT_JOB_TTL_MS, MAX_JOB_TTL_MS, MIN_JOB_TTL_MS, JobService, type CreateJobInput, type JobPlan, type JobServiceOptions } from './service.js';
export { MAX_AUTO_CHUNK, MIN_AUTO_CHUNK, TARGET_CHUNKS, Transfer, chooseChunkSize, chunkCount, type AckResult } from './transfer.js';
