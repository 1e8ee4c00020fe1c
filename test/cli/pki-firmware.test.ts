import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { OtaError } from '../../src/protocol/errors.js';
import { writeImage } from '../../src/protocol/firmware/image.js';
import { registerFirmware } from '../../src/cli/firmware.js';
import { registerPki } from '../../src/cli/pki.js';
import { decodeSignedManifest } from '../../src/security/firmware/manifest.js';
import type { PkiIndex } from '../../src/security/pki/store.js';
import { tempDir } from '../security/pki/fixtures.js';

/** Run `ota <args>` on a program wired like main.ts, returning what it printed. */
async function ota(...args: string[]): Promise<string> {
  let printed = '';
  const program = new Command().name('ota').version('0.1.0').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  const io = { out: (t: string) => void (printed += t) };
  registerPki(program, io);
  registerFirmware(program, io);
  await program.parseAsync(args, { from: 'user' });
  return printed;
}

async function fails(args: string[], code: string): Promise<void> {
  await assert.rejects(ota(...args), (e: unknown) => {
    assert.ok(e instanceof OtaError, String(e));
    assert.equal(e.code, code);
    return true;
  });
}

async function usageError(args: string[]): Promise<void> {
  await assert.rejects(ota(...args), (e: unknown) => e instanceof CommanderError && e.exitCode !== 0);
}

describe('ota pki and ota firmware', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let pki: string;
  const app = Array.from({ length: 3000 }, (_, i) => (i * 13 + 1) & 0xff);
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('cli'));
    pki = join(root, 'pki');
    // An Intel HEX image with a gap (0x08002000..0x08002BB7 and 0x08003000..), and a raw binary.
    const map = [
      { address: 0x08002000, data: Uint8Array.from(app) },
      { address: 0x08003000, data: Uint8Array.of(1, 2, 3, 4) },
    ];
    await writeFile(join(root, 'app.hex'), writeImage(map, 'ihex'));
    await writeFile(join(root, 'app.bin'), Uint8Array.from(app));
  });
  after(async () => cleanup());

  describe('ota pki', () => {
    it('init, issue every role, list', async () => {
      assert.match(await ota('pki', 'init', '--dir', pki, '--name', 'CLI Fleet CA'), /created fleet CA 'CLI Fleet CA'/);
      assert.match(await ota('pki', 'issue', '--dir', pki, '--role', 'broker', '--name', 'broker', '--san', 'localhost', '127.0.0.1'), /issued broker certificate 'broker'/);
      await ota('pki', 'issue', '--dir', pki, '--role', 'manager', '--name', 'manager-1');
      await ota('pki', 'issue', '--dir', pki, '--role', 'vehicle', '--name', 'VIN0001', '--days', '30');
      await ota('pki', 'issue', '--dir', pki, '--role', 'release', '--name', 'release-a');
      await ota('pki', 'issue', '--dir', pki, '--role', 'release', '--name', 'release-b');
      assert.equal((await stat(join(pki, 'release-a.key'))).mode & 0o777, 0o600);
      const index = JSON.parse(await ota('pki', 'list', '--dir', pki, '--json')) as PkiIndex;
      assert.deepEqual(index.certificates.map((c) => [c.name, c.role, c.revoked]), [
        ['broker', 'broker', false],
        ['manager-1', 'manager', false],
        ['VIN0001', 'vehicle', false],
        ['release-a', 'release', false],
        ['release-b', 'release', false],
      ]);
      const table = await ota('pki', 'list', '--dir', pki);
      assert.match(table, /^NAME\s+ROLE\s+SERIAL\s+EXPIRES\s+STATUS$/m);
      assert.match(table, /^VIN0001\s+vehicle\s+[0-9a-f]{32}\s+\S+\s+valid$/m);
    });
    it('refuses to overwrite with PKI_EXISTS', async () => {
      await fails(['pki', 'init', '--dir', pki], 'PKI_EXISTS');
      await fails(['pki', 'issue', '--dir', pki, '--role', 'vehicle', '--name', 'VIN0001'], 'PKI_EXISTS');
    });
    it('refuses an unknown role, a bad --days and a missing --dir as usage errors', async () => {
      await usageError(['pki', 'issue', '--dir', pki, '--role', 'admin', '--name', 'x']);
      await usageError(['pki', 'issue', '--dir', pki, '--role', 'vehicle', '--name', 'x', '--days', '-1']);
      await usageError(['pki', 'list']);
    });
    it('refuses a bad SAN with PKI_BAD_SAN and an unknown name with PKI_NOT_FOUND', async () => {
      await fails(['pki', 'issue', '--dir', pki, '--role', 'broker', '--name', 'b2', '--san', 'no such host!'], 'PKI_BAD_SAN');
      await fails(['pki', 'revoke', '--dir', pki, '--name', 'nobody'], 'PKI_NOT_FOUND');
    });
  });

  describe('ota firmware', () => {
    const sign = (image: string, ...extra: string[]): Promise<string> =>
      ota('firmware', 'sign', join(root, image), '--key', join(pki, 'release-a.key'), '--cert', join(pki, 'release-a.pem'), '--version', '1.2.0', '--hardware', 'stm32f103c8', '--counter', '7', ...extra);
    const verify = (image: string, manifest: string, ...extra: string[]): Promise<string> =>
      ota('firmware', 'verify', join(root, image), '--manifest', join(root, manifest), '--ca', join(pki, 'ca.pem'), ...extra);

    it('signs an Intel HEX image (gaps as 0xFF) and verifies it', async () => {
      assert.match(await sign('app.hex'), /wrote .*app\.hex\.manifest/);
      const { manifest } = decodeSignedManifest(new Uint8Array(await readFile(join(root, 'app.hex.manifest'))));
      assert.deepEqual({ ...manifest, sha256: '' }, { hardwareId: 'stm32f103c8', version: '1.2.0', counter: 7, length: 0x1004, sha256: '', loadAddress: 0x08002000, format: 'ihex' });
      const out = await verify('app.hex', 'app.hex.manifest', '--crl', join(pki, 'crl.pem'));
      assert.match(out, /^OK stm32f103c8 1\.2\.0 counter 7, 4100 bytes at 0x08002000/);
      assert.match(out, /signed by release key 'release-a'/);
    });
    it('signs a raw binary at --base and verifies it, also as JSON', async () => {
      await sign('app.bin', '--base', '0x08002000', '--out', join(root, 'bin.manifest'));
      const json = JSON.parse(await verify('app.bin', 'bin.manifest', '--json')) as { ok: boolean; manifest: { length: number; format: string } };
      assert.equal(json.ok, true);
      assert.equal(json.manifest.length, 3000);
      assert.equal(json.manifest.format, 'bin');
    });
    it('refuses a raw binary without --base (FW_BASE_REQUIRED) and a bad --counter as a usage error', async () => {
      await fails(['firmware', 'sign', join(root, 'app.bin'), '--key', join(pki, 'release-a.key'), '--cert', join(pki, 'release-a.pem'), '--version', '1.0.0', '--hardware', 'h', '--counter', '1'], 'FW_BASE_REQUIRED');
      await usageError(['firmware', 'sign', join(root, 'app.hex'), '--key', 'k', '--cert', 'c', '--version', '1.0.0', '--hardware', 'h', '--counter', '2^40']);
    });
    it('refuses to sign with a manager key (FW_UNTRUSTED_SIGNER) or a mismatched key (FW_KEY_MISMATCH)', async () => {
      await fails(['firmware', 'sign', join(root, 'app.hex'), '--key', join(pki, 'manager-1.key'), '--cert', join(pki, 'manager-1.pem'), '--version', '1.0.0', '--hardware', 'h', '--counter', '1'], 'FW_UNTRUSTED_SIGNER');
      await fails(['firmware', 'sign', join(root, 'app.hex'), '--key', join(pki, 'release-b.key'), '--cert', join(pki, 'release-a.pem'), '--version', '1.0.0', '--hardware', 'h', '--counter', '1'], 'FW_KEY_MISMATCH');
    });
    it('refuses a changed image with FW_DIGEST_MISMATCH and a longer one with FW_LENGTH_MISMATCH', async () => {
      const changed = Uint8Array.from(app);
      changed[100] = (changed[100] as number) ^ 1;
      await writeFile(join(root, 'changed.bin'), changed);
      await fails(['firmware', 'verify', join(root, 'changed.bin'), '--manifest', join(root, 'bin.manifest'), '--ca', join(pki, 'ca.pem')], 'FW_DIGEST_MISMATCH');
      await writeFile(join(root, 'longer.bin'), Uint8Array.from([...app, 0]));
      await fails(['firmware', 'verify', join(root, 'longer.bin'), '--manifest', join(root, 'bin.manifest'), '--ca', join(pki, 'ca.pem')], 'FW_LENGTH_MISMATCH');
    });
    it('refuses an image at another address with FW_ADDRESS_MISMATCH', async () => {
      await writeFile(join(root, 'moved.hex'), writeImage([{ address: 0x08004000, data: Uint8Array.from(app) }], 'ihex'));
      await fails(['firmware', 'verify', join(root, 'moved.hex'), '--manifest', join(root, 'bin.manifest'), '--ca', join(pki, 'ca.pem')], 'FW_ADDRESS_MISMATCH');
    });
    it('refuses a truncated manifest with FW_MALFORMED and a flipped manifest bit with FW_BAD_SIGNATURE', async () => {
      const signed = new Uint8Array(await readFile(join(root, 'bin.manifest')));
      await writeFile(join(root, 'short.manifest'), signed.subarray(0, signed.length - 1));
      await fails(['firmware', 'verify', join(root, 'app.bin'), '--manifest', join(root, 'short.manifest'), '--ca', join(pki, 'ca.pem')], 'FW_MALFORMED');
      const flipped = Uint8Array.from(signed);
      flipped[7 + 30] = (flipped[7 + 30] as number) ^ 0x10; // the low byte of the manifest's counter: 7 → 23
      await writeFile(join(root, 'flipped.manifest'), flipped);
      await fails(['firmware', 'verify', join(root, 'app.bin'), '--manifest', join(root, 'flipped.manifest'), '--ca', join(pki, 'ca.pem')], 'FW_BAD_SIGNATURE');
    });
    it('refuses a manifest under another CA with FW_UNTRUSTED_SIGNER', async () => {
      const other = join(root, 'other-pki');
      await ota('pki', 'init', '--dir', other);
      await fails(['firmware', 'verify', join(root, 'app.bin'), '--manifest', join(root, 'bin.manifest'), '--ca', join(other, 'ca.pem')], 'FW_UNTRUSTED_SIGNER');
    });
    it('after `ota pki revoke` of the release key, refuses with FW_REVOKED_SIGNER when given the CRL', async () => {
      assert.match(await ota('pki', 'revoke', '--dir', pki, '--name', 'release-a'), /revoked release certificate 'release-a'/);
      await fails(['firmware', 'verify', join(root, 'app.bin'), '--manifest', join(root, 'bin.manifest'), '--ca', join(pki, 'ca.pem'), '--crl', join(pki, 'crl.pem')], 'FW_REVOKED_SIGNER');
      assert.match(await ota('pki', 'list', '--dir', pki), /^release-a\s+release\s+[0-9a-f]{32}\s+\S+\s+revoked /m);
    });
  });
});
