/**
 * The UDS server of the virtual STM32F103 ECU — bootloader and application — behind one
 * `UdsRequestHandler`. Build one with `createVirtualEcu`; docs/flash-sequence.md is the tester's view.
 */
export { createVirtualEcu, type EcuStatus, type VirtualEcu, type VirtualEcuOptions } from './virtual-ecu.js';
export type { BootState } from './server.js';
export {
  BOOT_MODE_CODE,
  BOOT_REASON,
  DEFAULT_MAX_BLOCK_LENGTH,
  DEFAULT_MAX_RESPONSE_LENGTH,
  DEFAULT_SERVER_TIMING,
  DEFAULT_TRANSFER_BUFFERS,
  DEPENDENCY_RESULT,
  ECU_DID,
  FIRST_PENDING_FRACTION,
  MAX_DIDS_PER_READ,
  PENDING_FRACTION,
  SESSION,
  type DependencyResult,
  type EcuMode,
  type Session,
} from './constants.js';
export {
  DEFAULT_DISTANCE_WARNING_MM,
  DEFAULT_REPAIR_SHOP_CODE,
  DID_TABLE,
  ECU_DID_LENGTHS,
  supplyVoltageMv,
  ultrasonicDistanceMm,
  type DidDefinition,
} from './dids.js';
export { supportedServices } from './gate.js';
