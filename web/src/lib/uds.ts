/**
 * What the console knows about UDS for people: quick actions (ISO 14229-1 requests), the DTC status
 * bits' short names, and descriptions of the generic SAE J2012 DTCs of the virtual ECU's default set.
 * The manager decodes every response (`decoded`); this only labels and groups. Seeds, keys and 0x29
 * proofs are redacted by the project's one rule (src/protocol/uds/redact.ts, bundled: it imports nothing)
 * before the console keeps or shows an exchange.
 */
import type { DiagResult } from '../api/types.js';
import { redactDescription, redactUdsHex } from '../../../src/protocol/uds/redact.js';

export { redactUdsHex };

/** A result as the console keeps and shows it: request and response bytes and decoding redacted. */
export function redactResult(r: DiagResult): DiagResult {
  if (r.response === null) return { ...r, request: redactUdsHex(r.request) };
  return { ...r, request: redactUdsHex(r.request), response: redactUdsHex(r.response), decoded: redactDescription(r.decoded, r.response) };
}

/** True when a request holds redacted bytes (it cannot be sent again as it is). */
export function isRedacted(hex: string): boolean {
  return hex.includes('X');
}

export interface QuickAction {
  id: string;
  label: string;
  /** The request as hex, spaced for display. */
  request: string;
  hint: string;
  /** Ask again before sending (changes ECU state). */
  confirm?: string;
}

export interface QuickGroup {
  title: string;
  actions: readonly QuickAction[];
}

export const QUICK_ACTIONS: readonly QuickGroup[] = [
  {
    title: 'Identification',
    actions: [
      { id: 'vin', label: 'VIN', request: '22 F1 90', hint: 'ReadDataByIdentifier 0xF190 VIN' },
      { id: 'app-version', label: 'App version', request: '22 F1 89', hint: 'ReadDataByIdentifier 0xF189 application software version' },
      { id: 'boot-version', label: 'Boot version', request: '22 F1 80', hint: 'ReadDataByIdentifier 0xF180 boot software version' },
      { id: 'serial', label: 'ECU serial', request: '22 F1 8C', hint: 'ReadDataByIdentifier 0xF18C ECU serial number' },
      { id: 'session', label: 'Active session', request: '22 F1 86', hint: 'ReadDataByIdentifier 0xF186 active diagnostic session' },
    ],
  },
  {
    title: 'Fault memory',
    actions: [
      { id: 'read-dtc', label: 'Read DTCs', request: '19 02 FF', hint: 'ReadDTCInformation reportDTCByStatusMask, mask 0xFF' },
      { id: 'count-dtc', label: 'Count DTCs', request: '19 01 FF', hint: 'ReadDTCInformation reportNumberOfDTCByStatusMask' },
      {
        id: 'clear-dtc',
        label: 'Clear DTCs',
        request: '14 FF FF FF',
        hint: 'ClearDiagnosticInformation, all groups',
        confirm: 'Clear all DTCs of this ECU? The fault memory is erased.',
      },
    ],
  },
  {
    title: 'Session',
    actions: [
      { id: 'tester-present', label: 'Tester present', request: '3E 00', hint: 'TesterPresent (keeps a non-default session alive)' },
      { id: 'default-session', label: 'Default session', request: '10 01', hint: 'DiagnosticSessionControl defaultSession' },
      { id: 'extended-session', label: 'Extended session', request: '10 03', hint: 'DiagnosticSessionControl extendedDiagnosticSession' },
    ],
  },
];

/** ISO 14229-1 D.2 DTC status bits: a short tag and the name. */
export const DTC_STATUS_BITS: Readonly<Record<string, { tag: string; label: string }>> = {
  testFailed: { tag: 'TF', label: 'test failed' },
  testFailedThisOperationCycle: { tag: 'TFTOC', label: 'test failed this operation cycle' },
  pendingDTC: { tag: 'PDTC', label: 'pending' },
  confirmedDTC: { tag: 'CDTC', label: 'confirmed' },
  testNotCompletedSinceLastClear: { tag: 'TNCSLC', label: 'test not completed since last clear' },
  testFailedSinceLastClear: { tag: 'TFSLC', label: 'test failed since last clear' },
  testNotCompletedThisOperationCycle: { tag: 'TNCTOC', label: 'test not completed this operation cycle' },
  warningIndicatorRequested: { tag: 'WIR', label: 'warning indicator requested' },
};

/** Generic (SAE J2012) meanings of the DTCs the virtual ECU ships with; others show their code only. */
const DTC_TEXT: Readonly<Record<string, string>> = {
  P0001: 'Fuel volume regulator control circuit / open',
  P0100: 'Mass or volume air flow circuit',
  C0035: 'Left front wheel speed sensor circuit',
  B0024: 'Right side airbag deployment control',
  U0100: 'Lost communication with ECM/PCM "A"',
};

/** The description of `P0100-00` (its base code), if known. */
export function dtcDescription(dtc: string): string | undefined {
  return DTC_TEXT[dtc.slice(0, 5)];
}
