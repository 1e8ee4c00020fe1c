import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_DTC_GROUPS as DTC_GROUP_ALL, parseDtc } from '../../src/protocol/uds/dtc.js';
import { DTC_STATUS_AVAILABILITY_MASK, DTC_SYSTEM_GROUP, DtcStore } from '../../src/ecu/dtc-store.js';
import { EcuState } from '../../src/ecu/state.js';
import { tempDir } from './helpers.js';

const OUT_OF_RANGE = { code: 'UDS_NRC_REQUEST_OUT_OF_RANGE', wireCode: 0x31 };

const P0001 = 0x000100;
const P0100 = 0x010000;
const C0035 = 0x403500;
const B0024 = 0x802400;
const U0100 = 0xc10000;

describe('DtcStore', () => {
  it('holds the default set P0001, P0100, C0035, B0024, U0100 with their status bytes', () => {
    assert.deepEqual(['P0001', 'P0100', 'C0035', 'B0024', 'U0100'].map(parseDtc), [P0001, P0100, C0035, B0024, U0100]);
    assert.deepEqual(new DtcStore().supported(), [
      { dtc: P0001, status: 0x2f }, // confirmed, currently failing
      { dtc: P0100, status: 0x24 }, // pending, failed since last clear
      { dtc: C0035, status: 0x28 }, // confirmed, not failing now (historic)
      { dtc: B0024, status: 0x2c }, // pending + confirmed
      { dtc: U0100, status: 0xaf }, // failing, confirmed, warning indicator (MIL) on
    ]);
    assert.equal(DTC_STATUS_AVAILABILITY_MASK, 0xaf);
  });

  it('reports DTCs whose status & mask ≠ 0 (ISO 14229-1 §11.3)', () => {
    const store = new DtcStore();
    const dtcs = (mask: number): number[] => store.byStatusMask(mask).map((d) => d.dtc);
    assert.deepEqual(dtcs(0x01), [P0001, U0100]);
    assert.deepEqual(dtcs(0x04), [P0001, P0100, B0024, U0100]);
    assert.deepEqual(dtcs(0x08), [P0001, C0035, B0024, U0100]);
    assert.deepEqual(dtcs(0x80), [U0100]);
    assert.deepEqual(dtcs(0x50), []); // unsupported bits never match
    assert.equal(dtcs(0xff).length, 5);
  });

  it('gives snapshot record 0x01 (speed, rpm, voltage DIDs) and the extended data records', () => {
    const store = new DtcStore();
    const expected = [{
      recordNumber: 0x01,
      identifiers: [
        { did: 0xf40d, data: Uint8Array.of(0x30) }, // 48 km/h
        { did: 0xf40c, data: Uint8Array.of(0x21, 0x98) }, // 2150 rpm × 4 = 8600
        { did: 0xf442, data: Uint8Array.of(0x35, 0xe8) }, // 13.8 V = 13 800 mV
      ],
    }];
    assert.deepEqual(store.snapshots(P0001, 0x01), expected);
    assert.deepEqual(store.snapshots(P0001, 0xff), expected);
    assert.deepEqual(store.extendedData(U0100, 0x01), [{ recordNumber: 0x01, data: Uint8Array.of(5) }]); // occurrences
    assert.deepEqual(store.extendedData(C0035, 0xff), [
      { recordNumber: 0x01, data: Uint8Array.of(2) },
      { recordNumber: 0x02, data: Uint8Array.of(12) }, // aging counter
    ]);
  });

  it('refuses unknown record numbers and DTCs with NRC 0x31', () => {
    const store = new DtcStore();
    assert.throws(() => store.snapshots(P0001, 0x02), OUT_OF_RANGE);
    assert.throws(() => store.extendedData(P0001, 0x03), OUT_OF_RANGE);
    assert.throws(() => store.snapshots(0x123456), OUT_OF_RANGE);
    assert.throws(() => store.reportTestResult(0x123456, true), OUT_OF_RANGE);
  });

  it('clears all (0xFFFFFF): statuses 0 under the availability mask, counters and snapshots gone', () => {
    const store = new DtcStore();
    assert.equal(store.clear(DTC_GROUP_ALL), 5);
    assert.deepEqual(store.byStatusMask(0xff), []);
    assert.deepEqual(store.snapshots(P0001), []);
    assert.deepEqual(store.extendedData(U0100, 0x01)[0]?.data, Uint8Array.of(0));
  });

  it('clears one system group or one DTC, and refuses unknown groups with 0x31', () => {
    const store = new DtcStore();
    assert.equal(store.clear(DTC_SYSTEM_GROUP.C), 1);
    assert.equal(store.clear(P0100), 1);
    assert.deepEqual(store.byStatusMask(0xff).map((d) => d.dtc), [P0001, B0024, U0100]);
    assert.throws(() => store.clear(0x123456), OUT_OF_RANGE);
  });

  it('updates status bits from test results and operation cycles (Annex D.2)', () => {
    const store = new DtcStore();
    store.clear(DTC_GROUP_ALL);
    const status = (): number => store.supported().find((d) => d.dtc === P0100)?.status ?? -1;
    store.reportTestResult(P0100, true, { vehicleSpeedKmh: 10, engineRpm: 1000, supplyVoltageV: 12 });
    assert.equal(status(), 0x2f);
    assert.deepEqual(store.extendedData(P0100, 0x01)[0]?.data, Uint8Array.of(1));
    assert.deepEqual(store.snapshots(P0100)[0]?.identifiers[0], { did: 0xf40d, data: Uint8Array.of(10) });
    store.reportTestResult(P0100, true); // still failing: no new occurrence
    assert.deepEqual(store.extendedData(P0100, 0x01)[0]?.data, Uint8Array.of(1));
    store.reportTestResult(P0100, false);
    assert.equal(status(), 0x2e);
    store.startOperationCycle(); // failed in the cycle that ended: stays pending
    assert.equal(status(), 0x2c);
    store.startOperationCycle(); // a clean cycle: pending cleared, confirmed ages
    assert.equal(status(), 0x28);
    assert.deepEqual(store.extendedData(P0100, 0x02)[0]?.data, Uint8Array.of(1));
    for (let i = 0; i < 39; i++) store.startOperationCycle();
    assert.equal(status(), 0x20); // aged out of confirmed after 40 cycles
  });

  it('sets the warning indicator on failure of a MIL DTC (U0100) and drops it after a clean cycle', () => {
    const store = new DtcStore();
    store.clear(U0100);
    store.reportTestResult(U0100, true);
    assert.equal(store.byStatusMask(0x80).length, 1);
    store.reportTestResult(U0100, false);
    store.startOperationCycle();
    store.startOperationCycle();
    assert.equal(store.byStatusMask(0x80).length, 0);
  });

  it('ignores test results and cycles while ControlDTCSetting is off; clear still works', () => {
    const store = new DtcStore();
    store.setDtcSetting(false);
    assert.equal(store.reportTestResult(C0035, true), false);
    assert.equal(store.startOperationCycle(), false);
    assert.deepEqual(store.supported().find((d) => d.dtc === C0035), { dtc: C0035, status: 0x28 });
    store.clear(C0035);
    assert.equal(store.byStatusMask(0xff).length, 4);
    store.setDtcSetting(true);
    assert.equal(store.reportTestResult(C0035, true), true);
  });

  it('persists DTC memory through state.json; DTC setting is not persisted', () => {
    const { dir, cleanup } = tempDir();
    try {
      const a = new DtcStore(EcuState.open(dir).slot('dtcs'));
      a.clear(DTC_SYSTEM_GROUP.P);
      a.reportTestResult(B0024, false);
      a.setDtcSetting(false);
      const b = new DtcStore(EcuState.open(dir).slot('dtcs'));
      assert.deepEqual(b.supported(), [
        { dtc: P0001, status: 0 },
        { dtc: P0100, status: 0 },
        { dtc: C0035, status: 0x28 },
        { dtc: B0024, status: 0x2c },
        { dtc: U0100, status: 0xaf },
      ]);
      assert.equal(b.dtcSettingOn, true);
    } finally {
      cleanup();
    }
  });
});
