/** Shared fixtures of the ISO-TP transport tests: a tester and an ECU on a virtual bus with a fake clock. */
import { FakeClock } from '../../../src/protocol/clock.js';
import { OtaError } from '../../../src/protocol/errors.js';
import { toHex } from '../../../src/protocol/hex.js';
import type { CanBitTiming } from '../../../src/protocol/can/timing.js';
import { VirtualCanBus, type CanTraceEntry } from '../../../src/protocol/can/virtual-bus.js';
import { IsoTpTransport, type IsoTpTransportOptions } from '../../../src/protocol/isotp/transport.js';

export const ascii = (s: string) => new TextEncoder().encode(s);
export const range = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

/** One trace line as a diagnostic engineer reads it: `7E8 10 14 62 F1 90 57 30 4C`. */
export const line = (e: CanTraceEntry) => `${e.frame.id.toString(16).toUpperCase()} ${toHex(e.frame.data)}`;

/** Resolves to 'ok' or the error code, and the clock time it settled at; never rejects. */
export function settle(p: Promise<unknown>, clock: FakeClock): Promise<{ result: string; at: number }> {
  return p.then(
    () => ({ result: 'ok', at: clock.now() }),
    (e: unknown) => ({ result: e instanceof OtaError ? e.code : `not an OtaError: ${String(e)}`, at: clock.now() }),
  );
}

export interface Rig {
  clock: FakeClock;
  bus: VirtualCanBus;
  trace: CanTraceEntry[];
  tester: IsoTpTransport;
  ecu: IsoTpTransport;
  /** `disposition:code` of every reception error, per transport. */
  errors: { tester: string[]; ecu: string[] };
}

/** A tester (0x7E0 → / ← 0x7E8, functional 0x7DF) and the engine ECU on one virtual bus. */
export function rig(
  options: { tester?: Partial<IsoTpTransportOptions>; ecu?: Partial<IsoTpTransportOptions>; timing?: CanBitTiming } = {},
): Rig {
  const clock = new FakeClock();
  const bus = new VirtualCanBus(options.timing ? { clock, timing: options.timing } : { clock });
  const trace: CanTraceEntry[] = [];
  bus.onTrace((e) => trace.push(e));
  const tester = new IsoTpTransport(bus.attach('tester'), {
    txId: 0x7e0,
    rxId: 0x7e8,
    functionalTxId: 0x7df,
    clock,
    ...options.tester,
  });
  const ecu = new IsoTpTransport(bus.attach('ecu'), {
    txId: 0x7e8,
    rxId: 0x7e0,
    functionalRxId: 0x7df,
    clock,
    ...options.ecu,
  });
  const errors = { tester: [] as string[], ecu: [] as string[] };
  tester.onError((e, d) => errors.tester.push(`${d}:${e.code}`));
  ecu.onError((e, d) => errors.ecu.push(`${d}:${e.code}`));
  return { clock, bus, trace, tester, ecu, errors };
}
