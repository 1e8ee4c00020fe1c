/**
 * The firmware repository (docs/update-flow.md, "firmware add"): a release is accepted only when its
 * signed manifest verifies against the fleet trust store (`<data>/pki`: CA + CRL, role release) and the
 * uploaded image, made contiguous from the manifest's load address, has exactly the manifest's length
 * and SHA-256. The image is stored content-addressed by SHA-256 (blobs.ts), the signed manifest in the
 * `firmware` table. A refusal is a FirmwareRefusal / ImageFormatError with its FW_* code and stores nothing.
 *
 * Firmware id: the first 16 hex digits (64 bits) of the manifest digest, the SHA-256 of the whole signed
 * manifest; every lookup also accepts the full 64-digit digest.
 */
import { hexAddress, readImage, toContiguous, type ImageFormat } from '../../protocol/firmware/index.js';
import { decodeSignedManifest, FirmwareRefusal, verifyUpdate, type FirmwareFormat } from '../../security/firmware/index.js';
import type { TrustStore } from '../../security/pki/index.js';
import { ManagerError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { FirmwareRow } from '../store/schema.js';
import type { BlobStore } from './blobs.js';

/** Erased flash reads 0xFF: gaps between an image's records are signed as 0xFF (`ota firmware sign`). */
const GAP_FILL = 0xff;
export const FIRMWARE_ID_LENGTH = 16;

/** A firmware release as the API shows it. */
export interface FirmwareRecord {
  id: string;
  manifestDigest: string;
  hardwareId: string;
  version: string;
  counter: number;
  /** Bytes of the contiguous image. */
  length: number;
  /** SHA-256 of the contiguous image (its blob name). */
  sha256: string;
  loadAddress: number;
  /** Format of the file as uploaded. */
  format: FirmwareFormat;
  signer: { cn: string; serial: string };
  /** The release certificate is in the fleet's current CRL: no new job may use this firmware. */
  revoked: boolean;
  addedAt: string;
  addedBy: string;
}

export interface AddFirmwareInput {
  /** The image file as uploaded. */
  image: Uint8Array;
  /** Default: the format the manifest names. */
  format?: ImageFormat;
  /** Load address of a raw binary (default: the manifest's loadAddress). */
  base?: number;
  /** The signed manifest, exactly as `ota firmware sign` wrote it. */
  signedManifest: Uint8Array;
  actor: string;
}

export interface RepositoryOptions {
  store: Store;
  blobs: BlobStore;
  /** The fleet trust store, read for every add so a new CRL counts at once. */
  trust: () => Promise<TrustStore>;
  now?: () => Date;
}

/** Add, list and show signed firmware; read an image back for an update job. */
export class FirmwareRepository {
  constructor(private readonly opts: RepositoryOptions) {}

  /**
   * Verify and store a release. Returns the record and whether it was new (the same signed manifest
   * added again returns the existing record). Refusals: FW_MALFORMED (not a signed manifest),
   * FW_BAD_SIGNATURE, FW_UNTRUSTED_SIGNER, FW_REVOKED_SIGNER, image format codes (FW_IHEX_…),
   * FW_ADDRESS_MISMATCH, FW_LENGTH_MISMATCH, FW_DIGEST_MISMATCH.
   */
  async add(input: AddFirmwareInput): Promise<{ firmware: FirmwareRecord; created: boolean }> {
    if (!(input.image instanceof Uint8Array) || !(input.signedManifest instanceof Uint8Array)) {
      throw new ManagerError('MGR_BAD_INPUT', 'image and signedManifest must be bytes');
    }
    const trust = await this.opts.trust();
    // Authenticate the manifest before its fields (load address, format) steer the image parser.
    const signed = await verifyUpdate({ signedManifest: input.signedManifest, expect: {}, trust });
    const { manifest } = signed;
    const format = input.format ?? manifest.format;
    const { map } = readImage(input.image, format, format === 'bin' ? { base: input.base ?? manifest.loadAddress } : {});
    const contiguous = toContiguous(map, { fill: GAP_FILL });
    if (contiguous.address !== manifest.loadAddress) {
      throw new FirmwareRefusal('FW_ADDRESS_MISMATCH', `image starts at ${hexAddress(contiguous.address)}, the manifest says ${hexAddress(manifest.loadAddress)}`);
    }
    // Length and SHA-256 of the contiguous image against the (now authenticated) manifest.
    await verifyUpdate({ signedManifest: input.signedManifest, image: contiguous.data, expect: {}, trust });

    const existing = await this.get(signed.manifestDigest);
    if (existing) {
      await this.opts.blobs.put(contiguous.data); // repairs a blob lost from disk; a no-op otherwise
      return { firmware: existing, created: false };
    }
    await this.opts.blobs.put(contiguous.data);
    const at = (this.opts.now?.() ?? new Date()).toISOString();
    const record: FirmwareRecord = {
      id: signed.manifestDigest.slice(0, FIRMWARE_ID_LENGTH),
      manifestDigest: signed.manifestDigest,
      hardwareId: manifest.hardwareId,
      version: manifest.version,
      counter: manifest.counter,
      length: manifest.length,
      sha256: manifest.sha256,
      loadAddress: manifest.loadAddress,
      format,
      signer: { cn: signed.releaseSigner.cn, serial: signed.releaseSigner.serial },
      revoked: false,
      addedAt: at,
      addedBy: input.actor,
    };
    try {
      await this.insert(record, input.signedManifest);
    } catch (e) {
      // Two uploads of one release at once: the loser returns the winner's record.
      const winner = await this.get(record.manifestDigest);
      if (winner) return { firmware: winner, created: false };
      throw e;
    }
    return { firmware: record, created: true };
  }

  private async insert(record: FirmwareRecord, signedManifest: Uint8Array): Promise<void> {
    const at = record.addedAt;
    await this.opts.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('firmware')
        .values({
          id: record.id,
          manifest_digest: record.manifestDigest,
          hardware_id: record.hardwareId,
          version: record.version,
          counter: record.counter,
          length: record.length,
          sha256: record.sha256,
          load_address: record.loadAddress,
          format: record.format,
          manifest: Buffer.from(signedManifest).toString('base64'),
          signer_cn: record.signer.cn,
          signer_serial: record.signer.serial,
          added_at: at,
          added_by: record.addedBy,
        })
        .execute();
      await trx
        .insertInto('audit_log')
        .values({
          at,
          actor: record.addedBy,
          action: 'firmware.add',
          target: record.id,
          detail: JSON.stringify({ hardwareId: record.hardwareId, version: record.version, counter: record.counter, length: record.length, sha256: record.sha256, signer: record.signer.cn }),
        })
        .execute();
    });
  }

  /** Every release, newest first, optionally of one hardware id. */
  async list(opts: { hardwareId?: string; limit?: number } = {}): Promise<FirmwareRecord[]> {
    let q = this.opts.store.db.selectFrom('firmware').selectAll();
    if (opts.hardwareId !== undefined) q = q.where('hardware_id', '=', opts.hardwareId);
    const rows = await q.orderBy('added_at', 'desc').orderBy('id').limit(Math.max(1, Math.min(1000, opts.limit ?? 1000))).execute();
    const revoked = await this.revokedSerials();
    return rows.map((r) => toRecord(r, revoked));
  }

  /** One release by id (16 hex) or full manifest digest (64 hex); undefined when absent. */
  async get(idOrDigest: string): Promise<FirmwareRecord | undefined> {
    const row = await this.row(idOrDigest);
    return row && toRecord(row, await this.revokedSerials());
  }

  /**
   * Verify a stored release's signed manifest again against the fleet's current trust (CA + CRL): a
   * release certificate revoked after the firmware was added refuses with FW_REVOKED_SIGNER (expired:
   * FW_UNTRUSTED_SIGNER). Called for every new job, dry runs included.
   */
  async checkSigner(signedManifest: Uint8Array): Promise<void> {
    await verifyUpdate({ signedManifest, expect: {}, trust: await this.opts.trust(), ...(this.opts.now ? { now: this.opts.now() } : {}) });
  }

  /** Ids of the releases whose signer `trust` revokes (to fail the jobs that would install them). */
  async revokedIds(trust: TrustStore): Promise<Set<string>> {
    const rows = await this.opts.store.db.selectFrom('firmware').select(['id', 'signer_serial']).execute();
    return new Set(rows.filter((r) => trust.revoked.has(r.signer_serial)).map((r) => r.id));
  }

  /** The serials the current CRL revokes; none while the trust store is unavailable (the API still lists). */
  private async revokedSerials(): Promise<ReadonlySet<string>> {
    try {
      return (await this.opts.trust()).revoked;
    } catch {
      return new Set();
    }
  }

  /** One release with its signed manifest bytes; FIRMWARE_UNKNOWN when absent. */
  async manifest(idOrDigest: string): Promise<{ firmware: FirmwareRecord; signedManifest: Uint8Array }> {
    const row = await this.row(idOrDigest);
    if (!row) throw new ManagerError('FIRMWARE_UNKNOWN', `no firmware '${idOrDigest}'`);
    const signedManifest = Uint8Array.from(Buffer.from(row.manifest, 'base64'));
    // The database is ours, but a manifest that no longer parses must not reach a vehicle.
    if (decodeSignedManifest(signedManifest).digest !== row.manifest_digest) {
      throw new ManagerError('MGR_BLOB_CORRUPT', `the stored manifest of ${row.id} does not match its digest`);
    }
    return { firmware: toRecord(row, await this.revokedSerials()), signedManifest };
  }

  /** The contiguous image of a release, checked against its SHA-256 (MGR_BLOB_CORRUPT otherwise). */
  async image(firmware: FirmwareRecord): Promise<Uint8Array> {
    const bytes = await this.opts.blobs.get(firmware.sha256);
    if (bytes.length !== firmware.length) throw new ManagerError('MGR_BLOB_CORRUPT', `blob ${firmware.sha256} has ${bytes.length} bytes, not ${firmware.length}`);
    return bytes;
  }

  private async row(idOrDigest: string): Promise<FirmwareRow | undefined> {
    const key = idOrDigest.toLowerCase();
    const db = this.opts.store.db;
    if (/^[0-9a-f]{64}$/.test(key)) return db.selectFrom('firmware').selectAll().where('manifest_digest', '=', key).executeTakeFirst();
    if (new RegExp(`^[0-9a-f]{${FIRMWARE_ID_LENGTH}}$`).test(key)) return db.selectFrom('firmware').selectAll().where('id', '=', key).executeTakeFirst();
    return undefined;
  }
}

function toRecord(r: FirmwareRow, revoked: ReadonlySet<string>): FirmwareRecord {
  return {
    id: r.id,
    manifestDigest: r.manifest_digest,
    hardwareId: r.hardware_id,
    version: r.version,
    counter: Number(r.counter),
    length: Number(r.length),
    sha256: r.sha256,
    loadAddress: Number(r.load_address),
    format: r.format as FirmwareFormat,
    signer: { cn: r.signer_cn, serial: r.signer_serial },
    revoked: revoked.has(r.signer_serial),
    addedAt: r.added_at,
    addedBy: r.added_by,
  };
}
