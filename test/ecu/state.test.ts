import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { OPTION_BYTES_FILE } from '../../src/ecu/option-bytes.js';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EcuFileError } from '../../src/ecu/errors.js';
import { DEFAULT_IDENTITY, EcuState, IDENT_DID, parseState, STATE_FILE } from '../../src/ecu/state.js';
import { codeOf, tempDir } from './helpers.js';

const ascii = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('latin1');

describe('EcuState', () => {
  it('creates state.json for a new ECU with the identification DIDs', () => {
    const { dir, cleanup } = tempDir();
    try {
      const state = EcuState.open(dir, { vin: 'WVWZZZ1JZXW000001', serialNumber: 'ENG-0042' });
      assert.ok(existsSync(join(dir, STATE_FILE)));
      assert.equal(ascii(state.readDid(IDENT_DID.vin)), 'WVWZZZ1JZXW000001');
      assert.equal(ascii(state.readDid(IDENT_DID.serialNumber)), 'ENG-0042');
      assert.equal(ascii(state.readDid(IDENT_DID.sparePartNumber)), DEFAULT_IDENTITY.sparePartNumber);
      assert.equal(ascii(state.readDid(IDENT_DID.hardwareNumber)), 'stm32f103c8');
      assert.deepEqual(state.dids(), [0xf187, 0xf18c, 0xf190, 0xf191]);
      const data = state.snapshot();
      assert.deepEqual(data.security, { failedAttempts: 0, lockoutUntil: 0 });
      assert.equal(data.application, null);
      assert.equal(data.installedCounter, 0);
    } finally {
      cleanup();
    }
  });

  it('keeps written DIDs across reopen; identity options do not override an existing state', () => {
    const { dir, cleanup } = tempDir();
    try {
      EcuState.open(dir).writeDid(0xf1a0, Uint8Array.of(1, 2, 3));
      const again = EcuState.open(dir, { vin: 'OTHERVIN000000000' });
      assert.deepEqual(again.readDid(0xf1a0), Uint8Array.of(1, 2, 3));
      assert.equal(ascii(again.readDid(IDENT_DID.vin)), DEFAULT_IDENTITY.vin);
      assert.equal(again.readDid(0x1234), undefined);
    } finally {
      cleanup();
    }
  });

  it('writes atomically: no temp file is left, and the file always parses', () => {
    const { dir, cleanup } = tempDir();
    try {
      const state = EcuState.open(dir);
      for (let i = 0; i < 5; i++) state.slot('installedCounter').save(i);
      assert.deepEqual(readdirSync(dir).sort(), [OPTION_BYTES_FILE, STATE_FILE].sort(), 'state.json and the option-byte copy of the rollback floor, no temp file');
      assert.equal(parseState(readFileSync(join(dir, STATE_FILE), 'utf8')).installedCounter, 4);
    } finally {
      cleanup();
    }
  });

  it('refuses a corrupt or incomplete state.json with ECU_STATE_CORRUPT', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, STATE_FILE), '{"format":1');
      assert.equal(codeOf(() => EcuState.open(dir)), 'ECU_STATE_CORRUPT');
      writeFileSync(join(dir, STATE_FILE), JSON.stringify({ format: 1, dids: {}, security: {} }));
      assert.equal(codeOf(() => EcuState.open(dir)), 'ECU_STATE_CORRUPT');
    } finally {
      cleanup();
    }
  });

  it('names the damaged state.json in the error (EcuFileError.path), for garbage and for an unreadable file', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, STATE_FILE);
      writeFileSync(path, 'garbage');
      assert.throws(() => EcuState.open(dir), (e: unknown) => e instanceof EcuFileError && e.code === 'ECU_STATE_CORRUPT' && e.path === path);
      rmSync(path);
      mkdirSync(path); // a directory where the file should be: readFileSync fails with EISDIR
      assert.throws(() => EcuState.open(dir), (e: unknown) => e instanceof EcuFileError && e.code === 'ECU_STATE_CORRUPT' && e.path === path);
    } finally {
      cleanup();
    }
  });

  it('refuses an update that would make the state invalid, leaving it unchanged', () => {
    const state = EcuState.inMemory();
    assert.equal(codeOf(() => state.update((d) => { d.installedCounter = -1; })), 'ECU_STATE_INVALID');
    assert.equal(state.snapshot().installedCounter, 0);
    assert.equal(codeOf(() => state.writeDid(0x10000, new Uint8Array())), 'ECU_STATE_DID');
  });

  it('applicationSlot never lowers the installed counter', () => {
    const slot = EcuState.inMemory().applicationSlot();
    slot.save({ application: null, installedCounter: 7 });
    slot.save({ application: null, installedCounter: 3 });
    assert.equal(slot.load().installedCounter, 7);
  });
});
