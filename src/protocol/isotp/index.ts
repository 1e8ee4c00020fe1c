/** ISO-TP (ISO 15765-2) over CAN: frame codec, segmentation, reassembly, transport, trace decoder. */
export * from './constants.js';
export * from './frame.js';
export * from './segment.js';
export * from './reassembler.js';
export * from './options.js';
export * from './transport.js';
export * from './describe.js';
