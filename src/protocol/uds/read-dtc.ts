/**
 * ReadDTCInformation (0x19) request and response bodies, after the SID and reportType byte
 * (ISO 14229-1:2013 §11.3). Supported reportTypes: 0x01, 0x02, 0x04, 0x06, 0x0A.
 */
import { udsError, type Reader, type Writer } from './bytes.js';
import { readDidData, writeDidRecord } from './did.js';
import type { DtcAndStatus, DtcExtDataRecord, DtcSnapshotRecord } from './dtc.js';
import type { DecodeResponseOptions, ReadDTCInformationRequest, ReadDTCInformationResponse } from './types.js';

/** Body of a 0x19 request for an already validated reportType. */
export function readDtcRequest(r: Reader, reportType: number, suppressPositiveResponse: boolean): ReadDTCInformationRequest {
  const base = { service: 'ReadDTCInformation', suppressPositiveResponse } as const;
  switch (reportType) {
    case 0x01:
    case 0x02:
      return { ...base, reportType, dtcStatusMask: r.u8('DTCStatusMask') };
    case 0x04:
      return { ...base, reportType, dtc: r.u24('DTCMaskRecord'), snapshotRecordNumber: r.u8('DTCSnapshotRecordNumber') };
    case 0x06:
      return { ...base, reportType, dtc: r.u24('DTCMaskRecord'), extDataRecordNumber: r.u8('DTCExtDataRecordNumber') };
    case 0x0a:
      return { ...base, reportType };
    default:
      return r.fail('UDS_SUBFUNCTION', `reportType 0x${reportType.toString(16)} is not supported`);
  }
}

/** Appends the body of a 0x19 request (after the reportType byte). */
export function writeDtcRequest(w: Writer, req: ReadDTCInformationRequest): void {
  switch (req.reportType) {
    case 0x01:
    case 0x02:
      w.u8(req.dtcStatusMask, 'dtcStatusMask');
      return;
    case 0x04:
      w.u24(req.dtc, 'dtc').u8(req.snapshotRecordNumber, 'snapshotRecordNumber');
      return;
    case 0x06:
      w.u24(req.dtc, 'dtc').u8(req.extDataRecordNumber, 'extDataRecordNumber');
      return;
    case 0x0a:
      return;
  }
}

function readDtcList(r: Reader): DtcAndStatus[] {
  // §11.3.3: DTCAndStatusRecord is a repetition of 3-byte DTC + 1-byte status.
  if (r.remaining % 4 !== 0) r.fail('UDS_LENGTH', `DTC list of ${r.remaining} bytes is not a multiple of 4`);
  const dtcs: DtcAndStatus[] = [];
  while (r.remaining > 0) dtcs.push({ dtc: r.u24('DTC'), status: r.u8('statusOfDTC') });
  return dtcs;
}

function readSnapshots(r: Reader, didLengths: ReadonlyMap<number, number> | undefined): DtcSnapshotRecord[] {
  const snapshots: DtcSnapshotRecord[] = [];
  while (r.remaining > 0) {
    const recordNumber = r.u8('DTCSnapshotRecordNumber');
    const count = r.u8('DTCSnapshotRecordNumberOfIdentifiers');
    // §11.3.3: 0x00 means "more than 255 identifiers, count from the length", which needs every DID
    // length known in advance; we refuse it rather than guess.
    if (count === 0) r.fail('UDS_RANGE', 'DTCSnapshotRecordNumberOfIdentifiers 0x00 is not supported');
    const identifiers = [];
    for (let i = 0; i < count; i++) {
      const did = r.u16('snapshot dataIdentifier');
      identifiers.push({ did, data: readDidData(r, did, didLengths, i === count - 1) });
    }
    snapshots.push({ recordNumber, identifiers });
  }
  return snapshots;
}

function readExtData(r: Reader, lengths: ReadonlyMap<number, number> | undefined): DtcExtDataRecord[] {
  const records: DtcExtDataRecord[] = [];
  while (r.remaining > 0) {
    const recordNumber = r.u8('DTCExtDataRecordNumber');
    const length = lengths?.get(recordNumber);
    if (length !== undefined && (!Number.isInteger(length) || length < 0)) {
      throw udsError('UDS_RANGE', `extDataRecordLengths has an invalid length ${length}`);
    }
    // Without a known length the record takes the rest of the message (the usual single-record reply).
    const data = length === undefined ? r.rest() : r.take(length, `extended data record 0x${recordNumber.toString(16)}`);
    records.push({ recordNumber, data });
  }
  return records;
}

/** Body of a 0x59 response for a reportType (already checked to be supported). */
export function readDtcResponse(r: Reader, reportType: number, options: DecodeResponseOptions): ReadDTCInformationResponse {
  const base = { kind: 'positive', service: 'ReadDTCInformation' } as const;
  switch (reportType) {
    case 0x01: {
      const statusAvailabilityMask = r.u8('DTCStatusAvailabilityMask');
      const dtcFormatIdentifier = r.u8('DTCFormatIdentifier');
      return { ...base, reportType, statusAvailabilityMask, dtcFormatIdentifier, dtcCount: r.u16('DTCCount') };
    }
    case 0x02:
    case 0x0a: {
      const statusAvailabilityMask = r.u8('DTCStatusAvailabilityMask');
      return { ...base, reportType, statusAvailabilityMask, dtcs: readDtcList(r) };
    }
    case 0x04: {
      const dtc = r.u24('DTC');
      const status = r.u8('statusOfDTC');
      return { ...base, reportType, dtc, status, snapshots: readSnapshots(r, options.didLengths) };
    }
    case 0x06: {
      const dtc = r.u24('DTC');
      const status = r.u8('statusOfDTC');
      return { ...base, reportType, dtc, status, extendedData: readExtData(r, options.extDataRecordLengths) };
    }
    default:
      return r.fail('UDS_SUBFUNCTION', `reportType 0x${reportType.toString(16)} is not supported`);
  }
}

/** Appends the body of a 0x59 response (after the reportType byte). */
export function writeDtcResponse(w: Writer, res: ReadDTCInformationResponse): void {
  switch (res.reportType) {
    case 0x01:
      w.u8(res.statusAvailabilityMask, 'statusAvailabilityMask').u8(res.dtcFormatIdentifier, 'dtcFormatIdentifier');
      w.u16(res.dtcCount, 'dtcCount');
      return;
    case 0x02:
    case 0x0a:
      w.u8(res.statusAvailabilityMask, 'statusAvailabilityMask');
      for (const { dtc, status } of res.dtcs) w.u24(dtc, 'dtc').u8(status, 'status');
      return;
    case 0x04:
      w.u24(res.dtc, 'dtc').u8(res.status, 'status');
      for (const snapshot of res.snapshots) {
        const n = snapshot.identifiers.length;
        if (n < 1 || n > 255) throw udsError('UDS_RANGE', `a snapshot record needs 1..255 identifiers, got ${n}`);
        w.u8(snapshot.recordNumber, 'snapshot recordNumber').u8(n, 'numberOfIdentifiers');
        for (const { did, data } of snapshot.identifiers) writeDidRecord(w, did, data);
      }
      return;
    case 0x06:
      w.u24(res.dtc, 'dtc').u8(res.status, 'status');
      for (const record of res.extendedData) w.u8(record.recordNumber, 'ext recordNumber').bytes(record.data, 'ext data');
      return;
  }
}
