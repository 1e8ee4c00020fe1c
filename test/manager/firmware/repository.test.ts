/**
 * The firmware repository against a real SQLite store, blob directory and fleet PKI made at test time:
 * accepted releases (raw binary, Intel HEX with a gap, S-records), idempotent re-adds, list/show, and
 * every refusal with its FW_* code and nothing stored.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryMapFromSegments, writeImage } from '../../../src/protocol/firmware/index.js';
import { OtaError } from '../../../src/protocol/errors.js';
import { BlobStore, FirmwareRepository } from '../../../src/manager/firmware/index.js';
import { openSqliteStore, type Store } from '../../../src/manager/store/index.js';
import { encodeManifest, manifestDigest } from '../../../src/security/firmware/index.js';
import { initPki, loadTrustStore, revoke } from '../../../src/security/pki/index.js';
import { APP_BASE, imageBytes, issueRelease, signRelease, type Signer } from './release.js';

const isCode = (code: string) => (e: unknown) => e instanceof OtaError && e.code === code;

describe('FirmwareRepository', () => {
  let dir: string;
  let pkiDir: string;
  let store: Store;
  let blobs: BlobStore;
  let repo: FirmwareRepository;
  let release: Signer;
  let foreign: Signer;
  let revoked: Signer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-fw-repo-'));
    pkiDir = join(dir, 'pki');
    await initPki(pkiDir, { name: 'Repo Test CA' });
    release = await issueRelease(pkiDir);
    revoked = await issueRelease(pkiDir, 'old-release');
    await revoke(pkiDir, 'old-release');
    const otherPki = join(dir, 'other-pki');
    await initPki(otherPki, { name: 'Another CA' });
    foreign = await issueRelease(otherPki);
    store = await openSqliteStore(join(dir, 'manager', 'ota.db'));
    blobs = new BlobStore(join(dir, 'manager', 'blobs'));
    repo = new FirmwareRepository({ store, blobs, trust: () => loadTrustStore(pkiDir) });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const blobFiles = async (): Promise<string[]> => readdir(join(blobs.dir, 'sha256')).catch(() => []);
  const auditAdds = async (): Promise<number> => (await store.listAudit({ limit: 1000 })).filter((e) => e.action === 'firmware.add').length;

  describe('accepts', () => {
    it('a raw binary at the manifest load address, stored by SHA-256 with its manifest', async () => {
      const image = imageBytes(5000, 1);
      const signedManifest = signRelease(release, image, { version: '1.0.0', counter: 1 });
      const { firmware, created } = await repo.add({ image, format: 'bin', signedManifest, actor: 'test:alice' });
      assert.equal(created, true);
      const digest = manifestDigest(signedManifest);
      assert.equal(firmware.manifestDigest, digest);
      assert.equal(firmware.id, digest.slice(0, 16));
      assert.deepEqual(
        [firmware.hardwareId, firmware.version, firmware.counter, firmware.length, firmware.loadAddress, firmware.format, firmware.addedBy, firmware.signer.cn],
        ['stm32f103c8', '1.0.0', 1, 5000, APP_BASE, 'bin', 'test:alice', 'release'],
      );
      assert.deepEqual(new Uint8Array(await readFile(blobs.path(firmware.sha256))), image);
      const { signedManifest: back } = await repo.manifest(firmware.id);
      assert.deepEqual(back, signedManifest);
      const audit = (await store.listAudit({ limit: 10 })).find((e) => e.action === 'firmware.add');
      assert.equal(audit?.target, firmware.id);
      assert.equal(audit?.actor, 'test:alice');
    });

    it('an Intel HEX file with a gap, made contiguous with 0xFF as `ota firmware sign` signs it', async () => {
      const a = imageBytes(100, 2);
      const b = imageBytes(50, 3);
      const map = memoryMapFromSegments([
        { address: APP_BASE, data: a },
        { address: APP_BASE + 200, data: b },
      ]);
      const contiguous = new Uint8Array(250).fill(0xff);
      contiguous.set(a, 0);
      contiguous.set(b, 200);
      const signedManifest = signRelease(release, contiguous, { version: '1.0.1', counter: 2, format: 'ihex' });
      const file = Buffer.from(writeImage(map, 'ihex'), 'latin1');
      const { firmware } = await repo.add({ image: file, signedManifest, actor: 'test' }); // format from the manifest
      assert.equal(firmware.format, 'ihex');
      assert.deepEqual(new Uint8Array(await readFile(blobs.path(firmware.sha256))), contiguous);
    });

    it('an S-record file', async () => {
      const image = imageBytes(700, 4);
      const signedManifest = signRelease(release, image, { version: '1.0.2', counter: 3, format: 'srec' });
      const file = Buffer.from(writeImage(memoryMapFromSegments([{ address: APP_BASE, data: image }]), 'srec'), 'latin1');
      const { firmware } = await repo.add({ image: file, format: 'srec', signedManifest, actor: 'test' });
      assert.equal(firmware.length, 700);
    });

    it('the same release again: the existing record, nothing duplicated', async () => {
      const image = imageBytes(5000, 1);
      const signedManifest = signRelease(release, image, { version: '1.0.0', counter: 1 });
      const before = { rows: (await repo.list()).length, blobs: (await blobFiles()).length, audit: await auditAdds() };
      // ECDSA signatures are randomised: re-signing makes another manifest, so add the stored one again.
      const first = (await repo.list()).find((f) => f.version === '1.0.0');
      assert.ok(first);
      const { signedManifest: stored } = await repo.manifest(first.id);
      const again = await repo.add({ image, format: 'bin', signedManifest: stored, actor: 'test:bob' });
      assert.equal(again.created, false);
      assert.deepEqual(again.firmware, first);
      assert.deepEqual({ rows: (await repo.list()).length, blobs: (await blobFiles()).length, audit: await auditAdds() }, before);
      // A second manifest (another counter) for the same bytes shares the blob.
      const other = await repo.add({ image, format: 'bin', signedManifest, actor: 'test' });
      assert.equal(other.created, true);
      assert.equal((await blobFiles()).length, before.blobs);
    });
  });

  describe('list and show', () => {
    it('lists newest first, filters by hardware, finds by id or full digest', async () => {
      const all = await repo.list();
      assert.ok(all.length >= 4);
      const sorted = [...all].sort((x, y) => y.addedAt.localeCompare(x.addedAt));
      assert.deepEqual(all.map((f) => f.addedAt), sorted.map((f) => f.addedAt));
      assert.equal((await repo.list({ hardwareId: 'stm32f103cb' })).length, 0);
      const one = all[0];
      assert.ok(one);
      assert.deepEqual(await repo.get(one.id), one);
      assert.deepEqual(await repo.get(one.manifestDigest), one);
      assert.deepEqual(await repo.get(one.id.toUpperCase()), one);
      assert.equal(await repo.get('0000000000000000'), undefined);
      assert.equal(await repo.get('not-an-id'), undefined);
      await assert.rejects(repo.manifest('0000000000000000'), isCode('FIRMWARE_UNKNOWN'));
    });
  });

  describe('refuses, storing nothing', () => {
    let snapshot: { rows: number; blobs: number; audit: number };
    beforeEach(async () => {
      snapshot = { rows: (await repo.list()).length, blobs: (await blobFiles()).length, audit: await auditAdds() };
    });
    const unchanged = async (): Promise<void> => {
      assert.deepEqual({ rows: (await repo.list()).length, blobs: (await blobFiles()).length, audit: await auditAdds() }, snapshot);
    };
    const refusal = async (code: string, input: { image: Uint8Array; signedManifest: Uint8Array; format?: 'bin' | 'ihex' | 'srec'; base?: number }): Promise<void> => {
      await assert.rejects(repo.add({ actor: 'test', format: 'bin', ...input }), isCode(code));
      await unchanged();
    };
    const image = imageBytes(3000, 9);

    it('an unsigned manifest (the bare OTAM body) with FW_MALFORMED', async () => {
      const signed = signRelease(release, image);
      const body = encodeManifest({ hardwareId: 'stm32f103c8', version: '2.0.0', counter: 9, length: 3000, sha256: '00'.repeat(32), loadAddress: APP_BASE, format: 'bin' });
      await refusal('FW_MALFORMED', { image, signedManifest: body });
      await refusal('FW_MALFORMED', { image, signedManifest: new Uint8Array(0) });
      await refusal('FW_MALFORMED', { image, signedManifest: signed.subarray(0, signed.length - 1) });
    });

    it('a manifest whose signature does not verify with FW_BAD_SIGNATURE', async () => {
      const signed = Uint8Array.from(signRelease(release, image));
      signed[signed.length - 10] = (signed[signed.length - 10] as number) ^ 0x01; // inside s of r‖s
      await refusal('FW_BAD_SIGNATURE', { image, signedManifest: signed });
      // A changed field (the counter's last byte, at a fixed offset of the canonical body) under the old signature.
      const tampered = Uint8Array.from(signRelease(release, image, { counter: 2 }));
      const at = Buffer.from(tampered).indexOf(Buffer.from([0x03, 0x04, 0x00, 0x00, 0x00, 0x02]));
      assert.ok(at > 0);
      tampered[at + 5] = 0x63;
      await refusal('FW_BAD_SIGNATURE', { image, signedManifest: tampered });
    });

    it('a release key of another CA with FW_UNTRUSTED_SIGNER, a revoked one with FW_REVOKED_SIGNER', async () => {
      await refusal('FW_UNTRUSTED_SIGNER', { image, signedManifest: signRelease(foreign, image) });
      await refusal('FW_REVOKED_SIGNER', { image, signedManifest: signRelease(revoked, image) });
    });

    it('an image longer or shorter than the manifest with FW_LENGTH_MISMATCH', async () => {
      const signedManifest = signRelease(release, image);
      await refusal('FW_LENGTH_MISMATCH', { image: image.subarray(0, 2999), signedManifest });
      await refusal('FW_LENGTH_MISMATCH', { image: Uint8Array.from([...image, 0]), signedManifest });
    });

    it('an image of the right length but other bytes with FW_DIGEST_MISMATCH', async () => {
      const signedManifest = signRelease(release, image);
      const changed = Uint8Array.from(image);
      changed[1234] = (changed[1234] as number) ^ 0xff;
      await refusal('FW_DIGEST_MISMATCH', { image: changed, signedManifest });
    });

    it('an image at another address with FW_ADDRESS_MISMATCH', async () => {
      await refusal('FW_ADDRESS_MISMATCH', { image, base: APP_BASE + 0x400, signedManifest: signRelease(release, image) });
      const hex = Buffer.from(writeImage(memoryMapFromSegments([{ address: APP_BASE + 0x800, data: image }]), 'ihex'), 'latin1');
      await refusal('FW_ADDRESS_MISMATCH', { image: hex, format: 'ihex', signedManifest: signRelease(release, image) });
    });

    it('an image file that does not parse with the format code', async () => {
      const bad = Buffer.from(':10000000ZZ\n', 'latin1');
      await refusal('FW_IHEX_SYNTAX', { image: bad, format: 'ihex', signedManifest: signRelease(release, image) });
    });
  });
});
