/**
 * The firmware manifest and its canonical encoding (ARCHITECTURE.md §2.3). The signed manifest is the
 * option record of UDS RoutineControl 0xFF01 (ARCHITECTURE.md §3, flash step 8), byte for byte.
 *
 * Canonical manifest (`OTAM` v1), the bytes the release key signs. Fields are tag ‖ length(1) ‖ value,
 * all present, exactly once, in this order, nothing after; integers big-endian:
 *
 * | offset | bytes | content                                                                   |
 * |--------|-------|---------------------------------------------------------------------------|
 * | 0      | 4     | magic `OTAM` = 4F 54 41 4D                                                |
 * | 4      | 1     | encoding version 0x01                                                     |
 * | 5      | 2+n   | 0x01 n hardwareId: ASCII [A-Za-z0-9][A-Za-z0-9._-]*, n = 1..32           |
 * |        | 2+n   | 0x02 n version: ASCII SemVer 2.0.0, n = 1..64                             |
 * |        | 2+4   | 0x03 04 counter: uint32, the monotonic release counter                    |
 * |        | 2+4   | 0x04 04 length: uint32 ≥ 1, bytes of the contiguous image                 |
 * |        | 2+32  | 0x05 20 sha256: SHA-256 of those bytes                                    |
 * |        | 2+4   | 0x06 04 loadAddress: uint32, address of the first byte; address+length ≤ 2^32 |
 * |        | 2+1   | 0x07 01 format of the file signed: 0x01 ihex, 0x02 srec, 0x03 bin         |
 *
 * The image is the file's data made contiguous from loadAddress, gaps filled with 0xFF (erased flash).
 * The signed manifest is the `OTSM` container of envelope.ts around these bytes.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ROLE_POLICY_OID } from '../pki/roles.js';
import { x509 } from '../pki/x509.js';
import { decodeSigned, encodeSigned, readTlv, readUint, sha256Hex, signBody, TlvWriter, uintBytes } from './envelope.js';
import { FirmwareRefusal } from './errors.js';

export type FirmwareFormat = 'ihex' | 'srec' | 'bin';

/** What a release says about one firmware image. `sha256` is lower-case hex. */
export interface Manifest {
  hardwareId: string;
  version: string;
  counter: number;
  length: number;
  sha256: string;
  loadAddress: number;
  format: FirmwareFormat;
}

/** A signed manifest split into its parts (structure checked, signature NOT verified). */
export interface SignedManifest {
  manifest: Manifest;
  /** The canonical manifest bytes the signature covers. */
  manifestBytes: Uint8Array;
  certDer: Uint8Array;
  signature: Uint8Array;
  /** SHA-256 of the whole signed manifest: what an assignment names. */
  digest: string;
}

export const MANIFEST_MAGIC = 'OTAM';
export const SIGNED_MANIFEST_MAGIC = 'OTSM';
export const MANIFEST_VERSION = 0x01;
export const MANIFEST_TAG = {
  hardwareId: 0x01,
  version: 0x02,
  counter: 0x03,
  length: 0x04,
  sha256: 0x05,
  loadAddress: 0x06,
  format: 0x07,
} as const;
export const FORMAT_CODE = { ihex: 0x01, srec: 0x02, bin: 0x03 } as const satisfies Record<FirmwareFormat, number>;
/** ISO 15765-2 classic FF_DL ≤ 4095 minus `31 01 FF 01`: the whole request fits one ISO-TP message. */
export const SIGNED_MANIFEST_MAX_BYTES = 4091;

const TAGS = Object.values(MANIFEST_TAG);
const HARDWARE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
// semver.org §2.0.0, the recommended regular expression.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const UINT32_MAX = 0xffff_ffff;
const bad = (msg: string): FirmwareRefusal => new FirmwareRefusal('FW_MALFORMED', `manifest: ${msg}`);

/** Throws FW_MALFORMED unless every field of `m` is in range. */
export function assertManifest(m: Manifest): void {
  if (typeof m.hardwareId !== 'string' || !HARDWARE_ID.test(m.hardwareId)) throw bad('hardwareId must be 1-32 of A-Z a-z 0-9 . _ -');
  if (typeof m.version !== 'string' || m.version.length > 64 || !SEMVER.test(m.version)) throw bad(`version '${String(m.version)}' is not SemVer`);
  if (!isUint32(m.counter)) throw bad('counter must be a uint32');
  if (!isUint32(m.length) || m.length < 1) throw bad('length must be 1..2^32-1');
  if (!isUint32(m.loadAddress)) throw bad('loadAddress must be a uint32');
  if (m.loadAddress + m.length > UINT32_MAX + 1) throw bad('image runs past the 32-bit address space');
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) throw bad('sha256 must be 64 lower-case hex digits');
  if (!Object.hasOwn(FORMAT_CODE, m.format)) throw bad(`unknown format '${String(m.format)}'`);
}

/** The canonical bytes of `m` (the bytes a release key signs). */
export function encodeManifest(m: Manifest): Uint8Array {
  assertManifest(m);
  return new TlvWriter(MANIFEST_MAGIC, MANIFEST_VERSION)
    .field(MANIFEST_TAG.hardwareId, Buffer.from(m.hardwareId, 'latin1'))
    .field(MANIFEST_TAG.version, Buffer.from(m.version, 'latin1'))
    .field(MANIFEST_TAG.counter, uintBytes(m.counter, 4))
    .field(MANIFEST_TAG.length, uintBytes(m.length, 4))
    .field(MANIFEST_TAG.sha256, Buffer.from(m.sha256, 'hex'))
    .field(MANIFEST_TAG.loadAddress, uintBytes(m.loadAddress, 4))
    .field(MANIFEST_TAG.format, Uint8Array.of(FORMAT_CODE[m.format]))
    .bytes();
}

/** Decode canonical manifest bytes; anything non-canonical or out of range is FW_MALFORMED. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  const [hw, ver, counter, length, sha, addr, fmt] = readTlv('manifest', bytes, MANIFEST_MAGIC, MANIFEST_VERSION, TAGS) as [
    Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array,
  ];
  if (sha.length !== 32) throw bad('sha256 must be 32 bytes');
  if (fmt.length !== 1) throw bad('format must be 1 byte');
  const format = (Object.keys(FORMAT_CODE) as FirmwareFormat[]).find((k) => FORMAT_CODE[k] === fmt[0]);
  if (format === undefined) throw bad(`unknown format code ${fmt[0]}`);
  const m: Manifest = {
    hardwareId: Buffer.from(hw).toString('latin1'),
    version: Buffer.from(ver).toString('latin1'),
    counter: readUint('manifest', 'counter', counter, 4),
    length: readUint('manifest', 'length', length, 4),
    sha256: Buffer.from(sha).toString('hex'),
    loadAddress: readUint('manifest', 'loadAddress', addr, 4),
    format,
  };
  assertManifest(m);
  return m;
}

/**
 * Sign `manifest` with a release key: the `OTSM` container (manifest ‖ release certificate DER ‖
 * r‖s signature), exactly what `ota firmware sign` writes and the ECU receives.
 */
export function signManifest(manifest: Manifest, signer: { keyPem: string; certPem: string }): Uint8Array {
  const body = encodeManifest(manifest);
  const { key, certDer } = signerParts(signer, 'release');
  return encodeSigned(SIGNED_MANIFEST_MAGIC, { body, certDer, signature: signBody(body, key) });
}

/** Split and structurally check a signed manifest (≤ SIGNED_MANIFEST_MAX_BYTES); verifies nothing. */
export function decodeSignedManifest(bytes: Uint8Array): SignedManifest {
  const parts = decodeSigned(SIGNED_MANIFEST_MAGIC, bytes, SIGNED_MANIFEST_MAX_BYTES);
  return {
    manifest: decodeManifest(parts.body),
    manifestBytes: parts.body,
    certDer: parts.certDer,
    signature: parts.signature,
    digest: sha256Hex(bytes),
  };
}

/** The digest an assignment names: SHA-256 of the whole signed manifest, lower-case hex. */
export function manifestDigest(signedManifest: Uint8Array): string {
  return sha256Hex(signedManifest);
}

/**
 * The private key and certificate DER of a signer, after checking that the key belongs to the
 * certificate and that the certificate carries `role`'s policy (a wrong file is caught at signing time).
 */
export function signerParts(
  signer: { keyPem: string; certPem: string },
  role: 'release' | 'manager',
): { key: KeyObject; certDer: Uint8Array } {
  let key: KeyObject;
  let cert: X509Certificate;
  let policies: readonly string[];
  try {
    key = createPrivateKey(signer.keyPem);
    cert = new X509Certificate(signer.certPem);
    policies = new x509.X509Certificate(cert.raw).getExtension(x509.CertificatePolicyExtension)?.policies ?? [];
  } catch (err) {
    throw new FirmwareRefusal('FW_MALFORMED', 'signer key or certificate cannot be read', { cause: err });
  }
  const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType !== 'ec' || !spki(createPublicKey(key)).equals(spki(cert.publicKey))) {
    throw new FirmwareRefusal('FW_KEY_MISMATCH', 'the signing key does not belong to the signer certificate');
  }
  if (!policies.includes(ROLE_POLICY_OID[role])) {
    throw new FirmwareRefusal('FW_UNTRUSTED_SIGNER', `the signer certificate is not a ${role} certificate`);
  }
  return { key, certDer: Uint8Array.from(cert.raw) };
}

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= UINT32_MAX;
}
