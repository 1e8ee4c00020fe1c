/**
 * The vehicle gateway (telematics unit): MQTT/TLS link, secure channel initiator, ECU inventory and
 * diagnostic pass-through over UDS, firmware updates (update/). `createGateway` is the entry point; connected-system.md the contract.
 */
export { createGateway, Gateway, type GatewayEvents, type GatewayOptions, type GatewayStats } from './gateway.js';
export { BOOT_STATE_DID, EcuPort, identificationText, inferMode, type DiagOutcome, type GatewayEcu } from './ecu-port.js';
export { GATEWAY_CAPABILITIES, GATEWAY_DEFAULTS, GATEWAY_VERSION, GW_CODES } from './constants.js';
export { backoffDelay, checkBackoff, type BackoffPolicy } from './backoff.js';
export { RefusalCounter, codeOf, silentLog, type GatewayLog } from './refusals.js';
export { UpdateAgent, UpdateStore, type JobRecord, type UpdateAgentOptions, type UpdateStats } from './update/index.js';
export { createLazyLink, LINK_DEAD_CODES, type LazyLinkOptions, type OpenedLink } from './lazy-link.js';
