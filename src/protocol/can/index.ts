/** CAN frames, bus timing (ISO 11898-1) and the in-process virtual CAN bus. */
export * from './frame.js';
export * from './timing.js';
export * from './virtual-bus.js';
