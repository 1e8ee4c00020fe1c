/** The gateway's update agent and its resumable store (docs/update-flow.md, gateway side). */
export { UpdateAgent, type UpdateAgentOptions, type UpdateHost, type UpdateStats } from './agent.js';
export { installImage, type InstallContext, type InstallInput } from './install.js';
export { FLASH_TO_UPDATE_PHASE, StatusThrottle } from './status.js';
export { ChunkFile, FINAL_PHASES, STORE_CODES, UpdateStore, safeName, type Geometry, type InstalledRecord, type JobPhase, type JobRecord } from './store.js';
