import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../src/protocol/errors.js';
import { newCounters, Refusals } from '../../src/manager/stats.js';
import { gatewayCode } from '../../src/manager/errors.js';
import type { LogLevel } from '../../src/manager/log.js';

describe('Refusals', () => {
  it('counts every refusal by code and logs each (vehicle, code) once per interval', () => {
    let now = 0;
    const lines: Array<{ level: LogLevel; event: string; fields?: Record<string, unknown> }> = [];
    const counters = newCounters();
    const r = new Refusals(counters, (level, event, fields) => void lines.push({ level, event, ...(fields ? { fields } : {}) }), 1000, () => now);
    for (let i = 0; i < 5; i++) r.refuse(new DecodeError('SC_REPLAY', 'replayed record 7'), { vehicleId: 'V1', leaf: 'up/rec' });
    r.refuse('MGR_BAD_STATUS', { vehicleId: 'V1', leaf: 'status' });
    r.refuse(new DecodeError('SC_REPLAY', 'x'), { vehicleId: 'V2' });
    r.refuse(new Error('not ours'), {});
    assert.deepEqual(counters.refused, { SC_REPLAY: 6, MGR_BAD_STATUS: 1, UNEXPECTED: 1 });
    assert.equal(counters.refusedTotal, 8);
    assert.deepEqual(
      lines.map((l) => [l.level, l.event, l.fields?.['code'], l.fields?.['vehicleId']]),
      [
        ['warn', 'refused', 'SC_REPLAY', 'V1'],
        ['warn', 'refused', 'MGR_BAD_STATUS', 'V1'],
        ['warn', 'refused', 'SC_REPLAY', 'V2'],
        ['warn', 'refused', 'UNEXPECTED', undefined],
      ],
    );
    now = 1500;
    r.refuse(new DecodeError('SC_REPLAY', 'x'), { vehicleId: 'V1' });
    assert.equal(lines.at(-1)?.fields?.['suppressedSinceLast'], 4);
  });
});

describe('gatewayCode', () => {
  it("keeps a gateway's UPPER_SNAKE code and replaces anything else with GW_ERROR", () => {
    assert.equal(gatewayCode('UDS_TIMEOUT'), 'UDS_TIMEOUT');
    for (const c of ['', 'lower', 'A B', 'X'.repeat(65), '<script>']) assert.equal(gatewayCode(c), 'GW_ERROR', c);
  });
});
