// The UDS flash sequence of ARCHITECTURE.md §3, driven byte by byte against the virtual ECU's server.
import { createHash } from 'node:crypto';
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import { createVirtualEcu } from '../../../src/ecu/server/index.js';
import { tempDir } from '../helpers.js';
import {
  APP_END,
  APP_START,
  Harness,
  SECRET,
  T0,
  applicationImage,
  cat,
  manifestFor,
  range44,
  releaseFixture,
  sign,
  type Release,
} from './helpers.js';
import { FakeClock } from '../../../src/protocol/clock.js';

const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const sha256 = (b: Uint8Array): string => toHex(createHash('sha256').update(b).digest());

describe('ARCHITECTURE §3 flash sequence', () => {
  let rel: Release;
  before(async () => {
    rel = await releaseFixture();
  });

  it('flashes a 56 KiB two-segment image into a blank ECU; after 11 01 the application reports the manifest version (F189)', async () => {
    const { dir, cleanup } = tempDir('ota-ecu-server-');
    try {
      const { map, image, address } = applicationImage();
      const signed = sign(manifestFor(image, address, { version: '2.1.0', counter: 5 }), rel.release);
      const h = new Harness({ stateDir: dir, trust: rel.trust });
      assert.equal(h.ecu.mode, 'bootloader'); // blank flash: no application
      assert.equal(toHex(await h.readDid(0xfd00)), '01 01'); // bootloader, NO_DESCRIPTOR

      // 1. extended session (P2 = 50 ms = 00 32, P2* = 5000 ms = 01 F4 in 10 ms units), DTC setting off, communication off
      assert.equal(await h.one('10 03'), '50 03 00 32 01 F4');
      assert.equal(await h.one('85 02'), 'C5 02');
      assert.equal(await h.one('28 03 01'), '68 03');
      // 2. programming session
      assert.equal(await h.one('10 02'), '50 02 00 32 01 F4');
      // 3. security access level 0x11: 16-byte seed, key = HMAC-SHA256(secret, seed)[0..16)
      const seed = parseHex(await h.one('27 11'));
      assert.equal(seed.length, 2 + 16);
      assert.equal(await h.unlockWithSeed(seed.subarray(2)), '67 12');
      // 4. erase the application region: 31 01 FF 00 44 08002000 0000E000
      assert.equal(await h.one(cat('31 01 FF 00', range44(APP_START, APP_END - APP_START))), '71 01 FF 00 00');
      // 5.–7. one download per segment (the gap stays erased, as the signed image has it: 0xFF)
      for (const segment of map) {
        assert.equal(await h.one(cat('34 00', range44(segment.address, segment.data.length))), '74 20 08 02');
        let bsc = 1;
        for (let off = 0; off < segment.data.length; off += 0x800) {
          assert.equal(await h.one(cat([0x36, bsc], segment.data.subarray(off, off + 0x800))), `76 ${toHex(Uint8Array.of(bsc))}`);
          bsc = (bsc + 1) & 0xff;
        }
        assert.equal(await h.one('37'), '77');
      }
      // 8. check memory: status 00 and the SHA-256 of the last download; with a range record, of that range
      const last = map[map.length - 1];
      assert.ok(last !== undefined);
      assert.equal(await h.one('31 01 02 02'), `71 01 02 02 00 ${sha256(last.data)}`);
      assert.equal(await h.one(cat('31 01 02 02', range44(address, image.length))), `71 01 02 02 00 ${sha256(image)}`);
      //    check programming dependencies with the signed manifest as the option record
      assert.equal(await h.one(cat('31 01 FF 01', signed)), '71 01 FF 01 00');
      assert.equal(toHex(await h.readDid(0xfd01)), '00 00'); // application valid, last check accepted
      // 9. hard reset → the application runs and reports the new version
      assert.equal(await h.one('11 01'), '51 01');
      assert.equal(h.ecu.mode, 'application');
      assert.equal(ascii(await h.readDid(0xf189)), '2.1.0');
      assert.equal(toHex(await h.readDid(0xfd00)), '02 00'); // application, started
      h.ecu.close();

      // The flash and the descriptor persist: the next power-on starts the application.
      const again = createVirtualEcu({ stateDir: dir, secret: SECRET, clock: new FakeClock(T0) });
      assert.equal(again.mode, 'application');
      assert.deepEqual(again.nvm.flash.read(APP_START, image.length), image);
      again.close();
    } finally {
      cleanup();
    }
  });

  it('updates a running application: 10 02 hands over to the bootloader (boot reason 0x10), the new version runs after the reset', async () => {
    const { image, address } = applicationImage(11);
    const h = new Harness({ trust: rel.trust });
    await h.programmingUnlocked();
    await h.eraseAndDownload(image, address);
    await h.one(cat('31 01 FF 01', sign(manifestFor(image, address, { version: '1.0.0', counter: 1 }), rel.release)));
    await h.one('11 01');
    assert.equal(h.ecu.mode, 'application');

    const next = applicationImage(12);
    assert.equal(await h.one('10 03'), '50 03 00 32 01 F4');
    assert.equal(await h.one('85 02'), 'C5 02');
    assert.equal(await h.one('28 03 01'), '68 03');
    assert.equal(await h.one('10 02'), '50 02 00 32 01 F4');
    assert.equal(h.ecu.mode, 'bootloader');
    assert.equal(h.ecu.session, 0x02);
    assert.equal(toHex(await h.readDid(0xfd00)), '01 10');
    assert.equal(toHex(await h.readDid(0xf186)), '02');
    await h.unlock(0x11);
    await h.eraseAndDownload(next.image, next.address);
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(next.image, next.address, { version: '1.1.0', counter: 2 }), rel.release))), '71 01 FF 01 00');
    assert.equal(await h.one('11 01'), '51 01');
    assert.equal(ascii(await h.readDid(0xf189)), '1.1.0');
    assert.equal(h.ecu.status().dtcSettingOn, true); // the reset turned DTC setting back on
  });

  it('ISO 14229-1 §14.4: the block sequence counter wraps 0xFF → 0x00 (896 blocks of 64 bytes on a small-block link)', async () => {
    const { image, address } = applicationImage(3);
    const h = new Harness({ trust: rel.trust });
    const small = h.ecu.handlerFor({ maxBlockLength: 0x42 });
    await h.programmingUnlocked();
    assert.equal(await h.one(cat('31 01 FF 00', range44(APP_START, APP_END - APP_START))), '71 01 FF 00 00');
    assert.equal(await h.one(cat('34 00', range44(address, image.length)), { handler: small }), '74 20 00 42');
    const counters: number[] = [];
    let bsc = 1;
    for (let off = 0; off < image.length; off += 64) {
      const r = parseHex(await h.one(cat([0x36, bsc], image.subarray(off, off + 64)), { handler: small }));
      counters.push(r[1] as number);
      bsc = (bsc + 1) & 0xff;
    }
    assert.equal(counters.length, 896);
    assert.deepEqual(counters.slice(253, 258), [0xfe, 0xff, 0x00, 0x01, 0x02]);
    assert.equal(await h.one('37'), '77');
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(image, address), rel.release))), '71 01 FF 01 00');
  });

  it('ISO 14229-1 §14.4: a repeated block (same counter) is answered positively and not programmed again', async () => {
    const { image, address } = applicationImage(4);
    const h = new Harness({ trust: rel.trust });
    await h.programmingUnlocked();
    await h.one(cat('31 01 FF 00', range44(APP_START, APP_END - APP_START)));
    await h.one(cat('34 00', range44(address, image.length)));
    const block1 = image.subarray(0, 0x800);
    assert.equal(await h.one(cat([0x36, 0x01], block1)), '76 01');
    const programmed = h.ecu.nvm.flash.opCounts().halfWordsProgrammed;
    assert.equal(await h.one(cat([0x36, 0x01], block1)), '76 01'); // the tester missed our response and retried
    assert.equal(h.ecu.nvm.flash.opCounts().halfWordsProgrammed, programmed);
    for (let off = 0x800, bsc = 2; off < image.length; off += 0x800, bsc++) await h.one(cat([0x36, bsc], image.subarray(off, off + 0x800)));
    assert.equal(await h.one('37'), '77');
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(image, address), rel.release))), '71 01 FF 01 00');
  });

  it('programs odd-sized blocks and an odd-sized image exactly (half-word carry between blocks)', async () => {
    const image = Uint8Array.from({ length: 1001 }, (_, i) => (i * 7 + 3) & 0xff);
    const h = new Harness({ trust: rel.trust });
    const odd = h.ecu.handlerFor({ maxBlockLength: 2 + 333 });
    await h.programmingUnlocked();
    await h.one(cat('31 01 FF 00', range44(APP_START, 0x400)));
    assert.equal(await h.one(cat('34 00', range44(APP_START, image.length)), { handler: odd }), '74 20 01 4F');
    for (let off = 0, bsc = 1; off < image.length; off += 333, bsc++) {
      assert.equal(await h.one(cat([0x36, bsc], image.subarray(off, off + 333)), { handler: odd }), `76 0${bsc}`);
    }
    assert.equal(await h.one('37'), '77');
    assert.deepEqual(h.ecu.nvm.flash.read(APP_START, 1002), cat(image, [0xff]));
    assert.equal(await h.one(cat('31 01 FF 01', sign(manifestFor(image, APP_START), rel.release))), '71 01 FF 01 00');
    await h.one('11 01');
    assert.equal(h.ecu.mode, 'application');
  });

  it('ISO 14229-2: with the physical timing model the erase answers 7F 31 78 (pending) and then 71 01 FF 00 00', async () => {
    const { image, address } = applicationImage(5);
    const h = new Harness({ trust: rel.trust, timing: true });
    await h.programmingUnlocked();
    const start = h.clock.now();
    // 56 pages × 22 ms = 1232 ms: one pending response at once (the timing model knows it is long), the final one at the end
    const erase = await h.send(cat('31 01 FF 00', range44(APP_START, APP_END - APP_START)), { advanceMs: 2000 });
    assert.deepEqual(erase, ['7F 31 78', '71 01 FF 00 00']);
    assert.ok(h.clock.now() - start >= 1232);
    await h.one(cat('34 00', range44(address, image.length)));
    // 2048 bytes take 1024 half-words × 52.5 µs = 53.76 ms to program, but the block is answered as soon
    // as it is buffered (double-buffered bootloader, programmed in the background): no pending response
    const block = await h.send(cat([0x36, 0x01], image.subarray(0, 0x800)), { advanceMs: 100 });
    assert.deepEqual(block, ['76 01']);
    // a long operation answers 0x78 again every 90 % of P2* (4500 ms): 32 pages × 300 ms = 9600 ms
    const slow = new Harness({ trust: rel.trust, timing: { pageEraseMs: 300, halfWordProgramUs: 52.5 } });
    await slow.programmingUnlocked();
    const slowErase = await slow.send(cat('31 01 FF 00', range44(APP_START, 0x8000)), { advanceMs: 11_000 });
    assert.deepEqual(slowErase, ['7F 31 78', '7F 31 78', '7F 31 78', '71 01 FF 00 00']); // 0 ms, 4500 ms, 9000 ms, 9600 ms
  });
});
