// The application's diagnostics and the server's session rules: S3, SecurityAccess across resets,
// suppressPosRspMsgIndicationBit, functional addressing, DIDs (identification, live data, writable), DTCs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import { createVirtualEcu, supplyVoltageMv, ultrasonicDistanceMm } from '../../../src/ecu/server/index.js';
import { tempDir } from '../helpers.js';
import { Harness, SECRET, T0, harnessWithApplication } from './helpers.js';

const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const u16 = (b: Uint8Array): number => ((b[0] as number) << 8) | (b[1] as number);

describe('sessions and the S3 timer', () => {
  it('ISO 14229-2 S3server: without requests for S3 (5 s) a non-default session falls back to default and relocks', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    await h.unlock(0x01);
    h.clock.advance(4_999);
    assert.equal(h.ecu.session, 0x03);
    h.clock.advance(1);
    assert.equal(h.ecu.session, 0x01);
    assert.equal(h.ecu.status().securityLevel, null);
  });

  it('ISO 14229-1 §9.6: TesterPresent (also with SPR, no response) keeps the session alive', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    for (let i = 0; i < 5; i++) {
      h.clock.advance(4_000);
      assert.deepEqual(await h.send('3E 80'), []);
    }
    assert.equal(h.ecu.session, 0x03);
    assert.equal(await h.one('3E 00'), '7E 00');
  });

  it('ISO 14229-2 S3server: in the bootloader the programming session falls back to the bootloader default session', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    await h.one('31 01 FF 00 44 08 00 20 00 00 00 04 00');
    h.clock.advance(5_000);
    assert.equal(h.ecu.mode, 'bootloader');
    assert.equal(h.ecu.session, 0x01);
    await h.one('10 02');
    assert.equal(await h.one('34 00 44 08 00 20 00 00 00 01 00'), '7F 34 33'); // relocked, and the erase forgotten
  });

  it('ISO 14229-1 §9.2.1: back to the default session restores communication and DTC setting', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    assert.equal(await h.one('28 01 01'), '68 01');
    assert.equal(await h.one('85 02 FF FF FF'), 'C5 02');
    assert.deepEqual(h.ecu.status().communication, { controlType: 0x01, communicationType: 0x01 });
    assert.equal(h.ecu.status().dtcSettingOn, false);
    assert.equal(await h.one('10 01'), '50 01 00 32 01 F4');
    assert.deepEqual(h.ecu.status().communication, { controlType: 0x00, communicationType: 0x03 });
    assert.equal(h.ecu.status().dtcSettingOn, true);
  });
});

describe('SecurityAccess across resets', () => {
  it('ARCHITECTURE §2.4: the key is HMAC-SHA256(secret, seed) truncated to 16 bytes; an unlocked level answers an all-zero seed', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    assert.equal(await h.unlock(0x01), '67 02');
    assert.equal(await h.one('27 01'), `67 01 ${Array(16).fill('00').join(' ')}`);
  });

  it('ARCHITECTURE §2.4: the worked example of docs/flash-sequence.md (secret 00 11 … FF, seed 00 01 … 0F)', async () => {
    const h = new Harness({ rng: (n) => Uint8Array.from({ length: n }, (_, i) => i) });
    await h.one('10 02');
    assert.equal(await h.one('27 11'), '67 11 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F');
    assert.equal(await h.one('27 12 A5 CE 9C BF 7C 63 CB ED F3 40 3E 59 4D 04 B0 EF'), '67 12');
  });

  it('ISO 14229-1 §9.4: the failed-attempt counter survives an ECU reset and a power cycle', async () => {
    const { dir, cleanup } = tempDir('ota-ecu-server-');
    try {
      const clock = new FakeClock(T0);
      const h = new Harness({ stateDir: dir }, clock);
      const wrong = `27 12 ${Array(16).fill('00').join(' ')}`;
      for (const expected of ['7F 27 35', '7F 27 35']) {
        await h.one('10 02');
        await h.one('27 11');
        assert.equal(await h.one(wrong), expected);
        await h.one('11 01');
      }
      h.ecu.close();
      const again = new Harness({ stateDir: dir }, clock); // power cycle
      await again.one('10 02');
      await again.one('27 11');
      assert.equal(await again.one(wrong), '7F 27 36'); // the third wrong key since the last success
      assert.equal(await again.one('27 11'), '7F 27 37');
      again.ecu.close();
    } finally {
      cleanup();
    }
  });

  it('ISO 14229-1 §9.4.1: a reset relocks, so programming needs SecurityAccess again', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    await h.one('11 01');
    await h.one('10 02');
    assert.equal(await h.one('31 01 02 02'), '7F 31 33');
  });
});

describe('suppressPosRspMsgIndicationBit and functional addressing (ISO 14229-1 §7.5)', () => {
  it('SPR suppresses positive responses only; the action still happens', async () => {
    const h = harnessWithApplication();
    assert.deepEqual(await h.send('10 83'), []);
    assert.equal(h.ecu.session, 0x03);
    assert.deepEqual(await h.send('85 82'), []);
    assert.equal(h.ecu.status().dtcSettingOn, false);
    assert.deepEqual(await h.send('27 83'), ['7F 27 12']); // negative responses are sent
    assert.deepEqual(await h.send('11 81'), []);
    assert.equal(h.ecu.session, 0x01); // the reset happened
  });

  it('§7.5: a functional request gets no NRC 0x11, 0x12, 0x31, 0x7E or 0x7F; other NRCs and positive responses are sent', async () => {
    const h = harnessWithApplication();
    const functional = { functional: true };
    assert.deepEqual(await h.send('BA', functional), []); // 0x11
    assert.deepEqual(await h.send('10 04', functional), []); // 0x12
    assert.deepEqual(await h.send('22 12 34', functional), []); // 0x31
    assert.deepEqual(await h.send('10 02', functional), []); // 0x7E
    assert.deepEqual(await h.send('27 01', functional), []); // 0x7F
    assert.deepEqual(await h.send('10', functional), ['7F 10 13']);
    assert.deepEqual(await h.send('3E 00', functional), ['7E 00']);
    assert.deepEqual(await h.send('3E 80', functional), []);
  });

  it('an empty request gets no response at all', async () => {
    assert.deepEqual(await harnessWithApplication().send(new Uint8Array()), []);
  });
});

describe('ReadDataByIdentifier (ISO 14229-1 §10.2)', () => {
  it('reads the identification DIDs, several in one request, in request order', async () => {
    const h = harnessWithApplication({ identity: { vin: 'WVWZZZ1JZXW000001', serialNumber: 'ENG-0042', sparePartNumber: '8K0-907-115' } });
    assert.equal(ascii(await h.readDid(0xf190)), 'WVWZZZ1JZXW000001');
    assert.equal(ascii(await h.readDid(0xf18c)), 'ENG-0042');
    assert.equal(ascii(await h.readDid(0xf187)), '8K0-907-115');
    assert.equal(ascii(await h.readDid(0xf180)), '1.0.0');
    assert.equal(ascii(await h.readDid(0xf189)), '3.0.0');
    assert.equal(ascii(await h.readDid(0xf191)), 'stm32f103c8');
    const vin = toHex(Buffer.from('WVWZZZ1JZXW000001'));
    assert.equal(await h.one('22 F1 86 F1 90 01 01'), `62 F1 86 01 F1 90 ${vin} 01 01 ${toHex(Uint8Array.of(supplyVoltageMv(T0) >> 8, supplyVoltageMv(T0) & 0xff))}`);
  });

  it('live data (0x0100 distance mm, 0x0101 supply mV) follows the clock smoothly', async () => {
    const h = harnessWithApplication();
    const samples: number[] = [];
    for (let i = 0; i < 12; i++) {
      const d = u16(await h.readDid(0x0100));
      assert.equal(d, ultrasonicDistanceMm(h.clock.now()));
      assert.ok(d >= 250 && d <= 1950, `distance ${d} mm in range`);
      samples.push(d);
      h.clock.advance(500);
    }
    assert.ok(new Set(samples).size > 6, 'the distance changes over time');
    for (let i = 1; i < samples.length; i++) assert.ok(Math.abs((samples[i] as number) - (samples[i - 1] as number)) < 500, 'smooth: < 500 mm per 0.5 s');
    const mv = u16(await h.readDid(0x0101));
    assert.ok(mv >= 13_510 && mv <= 14_090);
  });

  it('DID 0xF186 reports the active session', async () => {
    const h = harnessWithApplication();
    assert.equal(toHex(await h.readDid(0xf186)), '01');
    await h.one('10 03');
    assert.equal(toHex(await h.readDid(0xf186)), '03');
  });
});

describe('WriteDataByIdentifier (ISO 14229-1 §10.7)', () => {
  it('writes repair shop code, programming date and the distance threshold in the extended session with level 0x01; values persist', async () => {
    const { dir, cleanup } = tempDir('ota-ecu-server-');
    try {
      const h = harnessWithApplication({ stateDir: dir });
      assert.equal(ascii(await h.readDid(0xf198)), '0000000000');
      assert.equal(u16(await h.readDid(0x0110)), 300);
      await h.one('10 03');
      await h.unlock(0x01);
      assert.equal(await h.one('2E F1 98 57 53 2D 31 32 33 34 35 36 37'), '6E F1 98');
      assert.equal(await h.one('2E F1 99 20 26 11 26'), '6E F1 99');
      assert.equal(await h.one('2E 01 10 01 F4'), '6E 01 10');
      h.ecu.close();
      const ecu = createVirtualEcu({ stateDir: dir, secret: SECRET, clock: new FakeClock(T0) });
      const out: string[] = [];
      await ecu.handler.handle(parseHex('22 F1 98 F1 99 01 10'), (r) => out.push(toHex(r)), { functional: false });
      assert.deepEqual(out, [`62 F1 98 ${toHex(Buffer.from('WS-1234567'))} F1 99 20 26 11 26 01 10 01 F4`]);
      ecu.close();
    } finally {
      cleanup();
    }
  });

  it('the bootloader writes the programming date in the programming session with level 0x11', async () => {
    const h = new Harness();
    await h.programmingUnlocked();
    assert.equal(await h.one('2E F1 99 20 26 11 26'), '6E F1 99');
    assert.equal(await h.one('2E 01 10 01 F4'), '7F 2E 31'); // the threshold is the application's
  });
});

describe('DTC services (ISO 14229-1 §11)', () => {
  it('reads the default DTC set: count, list by mask, supported, snapshot and extended data; clears all', async () => {
    const h = harnessWithApplication();
    // P0001 2F, P0100 24, C0035 28, B0024 2C, U0100 AF (status & availability mask 0xAF)
    assert.equal(await h.one('19 0A'), '59 0A AF 00 01 00 2F 01 00 00 24 40 35 00 28 80 24 00 2C C1 00 00 AF');
    assert.equal(await h.one('19 01 08'), '59 01 AF 00 00 04'); // confirmed: P0001, C0035, B0024, U0100
    assert.equal(await h.one('19 02 01'), '59 02 AF 00 01 00 2F C1 00 00 AF'); // testFailed
    // snapshot record 01 of P0100: 3 DIDs — speed 0 km/h, 780 rpm × 4 = 0x0C30, 14.1 V = 0x3714 mV
    assert.equal(await h.one('19 04 01 00 00 FF'), '59 04 01 00 00 24 01 03 F4 0D 00 F4 0C 0C 30 F4 42 37 14');
    assert.equal(await h.one('19 06 C1 00 00 FF'), '59 06 C1 00 00 AF 01 05 02 00'); // occurrence 5, aging 0
    assert.equal(await h.one('14 FF FF FF'), '54');
    assert.equal(await h.one('19 01 FF'), '59 01 AF 00 00 00');
  });

  it('clears one system group (C) only', async () => {
    const h = harnessWithApplication();
    assert.equal(await h.one('14 40 00 00'), '54');
    assert.equal(await h.one('19 02 FF'), '59 02 AF 00 01 00 2F 01 00 00 24 80 24 00 2C C1 00 00 AF');
  });
});

describe('ECU lifecycle', () => {
  it('onBoot reports every (re)boot; close() answers nothing more', async () => {
    const h = harnessWithApplication();
    const boots: string[] = [];
    h.ecu.onBoot((s) => boots.push(`${s.mode}:${s.reason}`));
    await h.one('10 03');
    await h.one('10 02');
    await h.one('11 01');
    assert.deepEqual(boots, ['bootloader:16', 'application:0']);
    h.ecu.close();
    assert.deepEqual(await h.send('3E 00'), []);
  });

  it('ISO 14229-1 §9.3: a link that fails to send the 51 01 response still sees the ECU reset (and the error)', async () => {
    const h = harnessWithApplication();
    await h.one('10 03');
    const failing = h.ecu.handler.handle(parseHex('11 01'), () => {
      throw new Error('link down');
    }, { functional: false });
    await assert.rejects(failing, /link down/);
    assert.equal(h.ecu.session, 0x01);
    assert.equal(await h.one('3E 00'), '7E 00');
  });

  it('a power cycle during an erase: the request gets no final response and the new boot remembers no erase', async () => {
    const h = new Harness({ timing: true });
    await h.programmingUnlocked();
    const responses: string[] = [];
    const erase = h.ecu.handler.handle(parseHex('31 01 FF 00 44 08 00 20 00 00 00 E0 00'), (r) => responses.push(toHex(r)), { functional: false });
    const queued = h.send('3E 00'); // waits behind the erase, lost with the reset
    await h.clock.advanceAsync(100);
    h.ecu.reset();
    await h.clock.advanceAsync(2_000);
    await erase;
    assert.deepEqual(await queued, []);
    assert.deepEqual(responses, ['7F 31 78']);
    assert.equal(h.ecu.session, 0x01);
    await h.programmingUnlocked();
    assert.equal(await h.one('34 00 44 08 00 20 00 00 00 01 00'), '7F 34 70');
  });

  it('refuses a maxBlockLength outside 3…0xFFFF', () => {
    assert.throws(() => createVirtualEcu({ maxBlockLength: 2 }), { code: 'ECU_CONFIG' });
    const ecu = createVirtualEcu();
    assert.throws(() => ecu.handlerFor({ maxBlockLength: 0x10000 }), { code: 'ECU_CONFIG' });
    ecu.close();
  });
});
