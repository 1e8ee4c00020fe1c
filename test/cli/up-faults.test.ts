// The line `ota up` prints for a vehicle it could not start (the real-process cases are in test/faults/).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { vehicleFaultLine } from '../../src/cli/up.js';
import { VehicleFileError } from '../../src/cli/sim/vehicle.js';
import { OtaError } from '../../src/protocol/errors.js';

describe('vehicleFaultLine', () => {
  it('names the vehicle, the code, the file, the problem and the remedy of a VehicleFileError, on one line', () => {
    const e = new VehicleFileError('SIM_BAD_KEY', 'V1', '/d/pki/V1.key', 'is empty', 'issue it again: ota pki issue …');
    const line = vehicleFaultLine('V1', e);
    assert.ok(line.startsWith('vehicle V1 not started (SIM_BAD_KEY): /d/pki/V1.key: is empty. To fix: issue it again: ota pki issue …'), line);
    assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  });

  it('still names the vehicle and the code of any other error', () => {
    const line = vehicleFaultLine('V2', new OtaError('GW_CONFIG', 'bad'));
    assert.ok(line.startsWith('vehicle V2 not started (GW_CONFIG: bad)'), line);
    assert.ok(vehicleFaultLine('V3', new Error('boom')).startsWith('vehicle V3 not started (boom)'));
  });
});
