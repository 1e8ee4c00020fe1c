// `ota firmware sample`: a valid Cortex-M3 application image for the virtual STM32F103, signed with the
// data directory's demo release key, accepted by `ota firmware verify` and flashed by a virtual ECU.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import fc from 'fast-check';
import { registerFirmware } from '../../src/cli/firmware.js';
import { ensurePki } from '../../src/cli/up/setup.js';
import { counterFromVersion, MIN_SAMPLE_SIZE, parseSize, sampleApplication } from '../../src/cli/update/sample.js';
import { bindCanNode, ECU_CAN_IDS } from '../../src/ecu/links/can-node.js';
import { createVirtualEcu } from '../../src/ecu/server/index.js';
import { createIsoTpLink } from '../../src/gateway/links/isotp-link.js';
import { UdsClient } from '../../src/gateway/uds/client.js';
import { flashEcu } from '../../src/gateway/uds/flash.js';
import { VirtualCanBus } from '../../src/protocol/can/index.js';
import { OtaError } from '../../src/protocol/errors.js';
import { readImage } from '../../src/protocol/firmware/image.js';
import { toContiguous } from '../../src/protocol/firmware/memory-map.js';
import { decodeSignedManifest } from '../../src/security/firmware/manifest.js';
import { trustStoreFromPem } from '../../src/security/pki/index.js';
import { tempDir } from '../security/pki/fixtures.js';

const APP_START = 0x0800_2000;

async function ota(...args: string[]): Promise<string> {
  let printed = '';
  const program = new Command().name('ota').version('0.1.0').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerFirmware(program, { out: (t) => void (printed += t) });
  await program.parseAsync(args, { from: 'user' });
  return printed;
}

describe('sampleApplication', () => {
  const image = sampleApplication({ version: '1.1.0', hardware: 'stm32f103c8', size: 56 * 1024 });
  const word = (off: number): number => new DataView(image.data.buffer, image.data.byteOffset).getUint32(off, true);

  it('starts with a vector table: initial SP at the top of the 20 KiB SRAM, odd (Thumb) handlers inside the image', () => {
    assert.equal(image.address, APP_START);
    assert.equal(image.data.length, 56 * 1024);
    assert.equal(word(0), 0x2000_5000);
    for (let i = 1; i < 16; i++) {
      const handler = word(4 * i);
      assert.equal(handler & 1, 1, `vector ${i} has the Thumb bit`);
      assert.ok(handler - 1 >= APP_START && handler - 1 < APP_START + image.data.length, `vector ${i} points into the image`);
    }
    assert.equal(word(4), APP_START + 0x201);
  });

  it('has the reset handler loop and the default handler as Thumb-16 code', () => {
    const half = (off: number): number => (image.data[off] as number) | ((image.data[off + 1] as number) << 8);
    // ldr r0,[pc,#8]; movs r1,#0; adds r1,#1; str r1,[r0]; b 0x204; nop; literal; b .
    assert.deepEqual([0x200, 0x202, 0x204, 0x206, 0x208, 0x20a].map(half), [0x4802, 0x2100, 0x3101, 0x6001, 0xe7fc, 0xbf00]);
    assert.equal(word(0x20c), 0x2000_0000);
    assert.equal(half(0x210), 0xe7fe);
  });

  it('names its version, and differs between versions beyond the banner', () => {
    assert.match(Buffer.from(image.data.subarray(0x100, 0x140)).toString('latin1'), /^OTA sample application 1\.1\.0 for stm32f103c8\0/);
    const other = sampleApplication({ version: '1.2.0', hardware: 'stm32f103c8', size: 56 * 1024 });
    assert.notDeepEqual(other.data.subarray(0x214), image.data.subarray(0x214));
    assert.deepEqual(sampleApplication({ version: '1.1.0', hardware: 'stm32f103c8', size: 56 * 1024 }).data, image.data, 'deterministic');
  });

  it('refuses a size outside MIN_SAMPLE_SIZE … the application region (CLI_SAMPLE_SIZE)', () => {
    assert.throws(() => sampleApplication({ version: '1.0.0', hardware: 'stm32f103c8', size: 56 * 1024 + 1 }), { code: 'CLI_SAMPLE_SIZE' });
    assert.throws(() => sampleApplication({ version: '1.0.0', hardware: 'stm32f103c8', size: MIN_SAMPLE_SIZE - 1 }), { code: 'CLI_SAMPLE_SIZE' });
    assert.equal(sampleApplication({ version: '1.0.0', hardware: 'stm32f103cb', size: 120 * 1024 }).data.length, 120 * 1024);
  });
});

describe('counterFromVersion', () => {
  it('is major·1e6 + minor·1e3 + patch, ignoring pre-release and build suffixes', () => {
    assert.equal(counterFromVersion('1.1.0'), 1_001_000);
    assert.equal(counterFromVersion('0.0.1'), 1);
    assert.equal(counterFromVersion('2.10.3-rc.1+b7'), 2_010_003);
  });

  it('refuses versions it cannot order (a part ≥ 1000, not MAJOR.MINOR.PATCH) with CLI_SAMPLE_VERSION', () => {
    for (const v of ['1.1000.0', '1.0.1000', '4294.0.0', '1.0', 'v1.0.0', '01.0.0']) assert.throws(() => counterFromVersion(v), { code: 'CLI_SAMPLE_VERSION' }, v);
  });

  it('orders counters as the versions are ordered', () => {
    const part = fc.integer({ min: 0, max: 999 });
    const version = fc.tuple(fc.integer({ min: 0, max: 4293 }), part, part);
    fc.assert(
      fc.property(version, version, (a, b) => {
        const cmp = a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
        const ca = counterFromVersion(a.join('.'));
        const cb = counterFromVersion(b.join('.'));
        assert.equal(Math.sign(ca - cb), Math.sign(cmp));
        assert.ok(ca <= 0xffff_ffff);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('parseSize', () => {
  it('reads bytes, hex and K / M suffixes', () => {
    assert.equal(parseSize('56K'), 57_344);
    assert.equal(parseSize('56KiB'), 57_344);
    assert.equal(parseSize('1M'), 1_048_576);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('0x1000'), 4096);
    for (const bad of ['', 'K', '1.5K', '-1', '56X']) assert.throws(() => parseSize(bad), CommanderError, bad);
  });
});

describe('ota firmware sample', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('sample'));
    await ensurePki(join(root, 'data', 'pki'), []);
  });
  after(async () => cleanup());

  it('writes Intel HEX and a signed manifest that ota firmware verify accepts, and the virtual ECU runs it', async () => {
    const out = join(root, 'app.hex');
    const printed = await ota('firmware', 'sample', '--version', '1.1.0', '--out', out, '--data', join(root, 'data'));
    assert.match(printed, /57344 bytes at 0x08002000, counter 1001000/);
    assert.match(printed, /next: ota firmware add /);
    const verified = await ota('firmware', 'verify', out, '--manifest', `${out}.manifest`, '--ca', join(root, 'data', 'pki', 'ca.pem'), '--json');
    const ok = JSON.parse(verified) as { ok: boolean; manifest: { version: string; counter: number; hardwareId: string; length: number; format: string } };
    assert.deepEqual(
      { ok: ok.ok, version: ok.manifest.version, counter: ok.manifest.counter, hw: ok.manifest.hardwareId, length: ok.manifest.length, format: ok.manifest.format },
      { ok: true, version: '1.1.0', counter: 1_001_000, hw: 'stm32f103c8', length: 57_344, format: 'ihex' },
    );

    // Flash it: the bootloader's 0xFF01 accepts the manifest, the ECU boots the application and reports 1.1.0.
    const signed = new Uint8Array(await readFile(`${out}.manifest`));
    const { address, data } = toContiguous(readImage(new Uint8Array(await readFile(out)), 'ihex').map);
    const trust = await trustStoreFromPem(await readFile(join(root, 'data', 'pki', 'ca.pem'), 'utf8'));
    const secret = new Uint8Array(32).fill(7);
    const ecu = createVirtualEcu({ trust, secret });
    const bus = new VirtualCanBus();
    const node = bindCanNode(bus.attach('ecu'), ecu.handler, ECU_CAN_IDS.engine);
    const client = new UdsClient(createIsoTpLink(bus.attach('tester'), ECU_CAN_IDS.engine));
    try {
      const result = await flashEcu(client, { image: { address, data }, signedManifest: signed, secret });
      assert.equal(result.version, '1.1.0');
      assert.equal(ecu.mode, 'application');
      assert.equal(decodeSignedManifest(signed).manifest.sha256, ecu.nvm.application.descriptor()?.sha256);
    } finally {
      await client.close();
      node.close();
      ecu.close();
    }
  });

  it('takes --counter, --hardware and --size', async () => {
    const out = join(root, 'cb.hex');
    const printed = await ota('firmware', 'sample', '--version', '2.0.0', '--counter', '7', '--hardware', 'stm32f103cb', '--size', '4K', '--out', out, '--data', join(root, 'data'));
    assert.match(printed, /for stm32f103cb, 4096 bytes at 0x08002000, counter 7/);
    const m = decodeSignedManifest(new Uint8Array(await readFile(`${out}.manifest`))).manifest;
    assert.deepEqual([m.hardwareId, m.counter, m.length], ['stm32f103cb', 7, 4096]);
  });

  it('says how to get a release key when the data directory has none (CLI_NO_RELEASE_KEY)', async () => {
    await assert.rejects(ota('firmware', 'sample', '--version', '1.0.0', '--out', join(root, 'x.hex'), '--data', join(root, 'empty')), (e: unknown) => {
      assert.ok(e instanceof OtaError);
      assert.equal(e.code, 'CLI_NO_RELEASE_KEY');
      return true;
    });
  });

  it('refuses an unknown hardware id, a size beyond the region or an unordered version as usage errors (exit 2)', async () => {
    for (const args of [['--hardware', 'stm32f4'], ['--size', '57K'], ['--size', 'big'], ['--version', '1.0']]) {
      await assert.rejects(ota('firmware', 'sample', '--version', '1.0.0', '--out', join(root, 'y.hex'), '--data', join(root, 'data'), ...args), (e: unknown) => e instanceof CommanderError && e.exitCode !== 0, args.join(' '));
    }
  });
});
