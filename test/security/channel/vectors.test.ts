/**
 * The code against the frozen vectors in docs/test-vectors/channel-*.json, and the vectors against
 * independent computations (hand-written HKDF, CBC and GCM over raw block ciphers, and the openssl CLI
 * when it is installed) so that they are not merely self-consistent.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createCipheriv, createECDH, createHash, createHmac, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isOtaError } from '../../../src/protocol/errors.js';
import { trustStoreFromPem, verifyCertificate } from '../../../src/security/pki/index.js';
import {
  LABELS,
  SUITE_IDS,
  decodeHandshake,
  deriveKeys,
  deriveRecordKeys,
  nextTrafficSecret,
  openRecord,
  sealRecord,
  type RecordKeys,
  type SuiteName,
} from '../../../src/security/channel/index.js';
import { loadVectors } from './vectors-io.js';

type KeysJson = { key?: string; iv?: string; encKey?: string; macKey?: string };
interface KeyCase {
  suite: SuiteName;
  sharedSecret: string;
  helloHash: string;
  expected: Record<string, string | KeysJson>;
}
interface RecordCase {
  name: string;
  suite: SuiteName;
  keys: KeysJson;
  sessionId: string;
  epoch: number;
  seq: string;
  recordIv?: string;
  plaintext: string;
  record: string;
}
interface Refusal {
  name: string;
  suite: SuiteName;
  keys: KeysJson;
  record: string;
  error: string;
}
interface HandshakeCase {
  suite: SuiteName;
  now: string;
  vehicleId: string;
  caCertPem: string;
  clientEphemeralPrivateKey: string;
  serverEphemeralPrivateKey: string;
  clientHello: string;
  serverHello: string;
  finished: string;
  sessionId: string;
  c2sRecord: { plaintext: string; record: string };
  s2cRecord: { plaintext: string; record: string };
}

const b = (h: string): Buffer => Buffer.from(h, 'hex');
const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
const keysFrom = (suite: SuiteName, k: KeysJson): RecordKeys =>
  suite === 'aes-256-gcm' ? { suite, key: b(k.key!), iv: b(k.iv!) } : { suite, encKey: b(k.encKey!), macKey: b(k.macKey!) };
const keysJson = (k: RecordKeys): KeysJson =>
  k.suite === 'aes-256-gcm' ? { key: hex(k.key), iv: hex(k.iv) } : { encKey: hex(k.encKey), macKey: hex(k.macKey) };

// ---- independent reference computations -------------------------------------------------------------

/** RFC 5869 HKDF-SHA256 written out with HMAC. */
function refHkdf(ikm: Buffer, salt: Buffer, info: string, length: number): Buffer {
  const prk = createHmac('sha256', salt.length ? salt : Buffer.alloc(32)).update(ikm).digest();
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; out.length * 32 < length; i++) {
    t = createHmac('sha256', prk).update(Buffer.concat([t, Buffer.from(info), Buffer.of(i)])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

function refHeader(suite: SuiteName, epoch: number, sid: Buffer, seqHex: string, bodyLen: number): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bodyLen);
  return Buffer.concat([Buffer.of(1, 0x17, SUITE_IDS[suite], epoch), sid, b(seqHex), len]);
}

/** 3DES-EDE3-CBC with PKCS#7, chained by hand over the raw block cipher (des-ede3 in ECB mode). */
function refDesCbc(key: Buffer, iv: Buffer, plaintext: Buffer): Buffer {
  const pad = 8 - (plaintext.length % 8);
  const p = Buffer.concat([plaintext, Buffer.alloc(pad, pad)]);
  const ecb = createCipheriv('des-ede3', key, null).setAutoPadding(false);
  const out = Buffer.alloc(p.length);
  let prev = iv;
  for (let i = 0; i < p.length; i += 8) {
    const x = Buffer.alloc(8);
    for (let j = 0; j < 8; j++) x[j] = p[i + j]! ^ prev[j]!;
    prev = ecb.update(x);
    prev.copy(out, i);
  }
  return out;
}

/** NIST SP 800-38D GCM over raw AES-256 (ECB for H and E(K, J0), CTR for the keystream), GHASH by hand. */
function refGcm(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): { ct: Buffer; tag: Buffer } {
  const big = (x: Buffer): bigint => BigInt('0x' + (x.toString('hex') || '0'));
  const ecb = (x: Buffer): Buffer => createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(x);
  const h = big(ecb(Buffer.alloc(16)));
  const R = 0xe1n << 120n;
  const mul = (x: bigint, y: bigint): bigint => {
    let z = 0n;
    let v = y;
    for (let i = 127n; i >= 0n; i--) {
      if ((x >> i) & 1n) z ^= v;
      v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
    }
    return z;
  };
  const counter2 = Buffer.concat([nonce, Buffer.from('00000002', 'hex')]);
  const ct = createCipheriv('aes-256-ctr', key, counter2).update(plaintext);
  const blocks = (x: Buffer): Buffer => Buffer.concat([x, Buffer.alloc((16 - (x.length % 16)) % 16)]);
  const lens = Buffer.alloc(16);
  lens.writeBigUInt64BE(BigInt(aad.length * 8), 0);
  lens.writeBigUInt64BE(BigInt(ct.length * 8), 8);
  const data = Buffer.concat([blocks(aad), blocks(ct), lens]);
  let s = 0n;
  for (let i = 0; i < data.length; i += 16) s = mul(s ^ big(data.subarray(i, i + 16)), h);
  const ej0 = big(ecb(Buffer.concat([nonce, Buffer.from('00000001', 'hex')])));
  return { ct, tag: b((s ^ ej0).toString(16).padStart(32, '0')) };
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
function openssl(args: string[], input?: Buffer): Buffer {
  const r = spawnSync('openssl', args, { input: input ?? Buffer.alloc(0), timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

// ---- tests -----------------------------------------------------------------------------------------

describe('channel-keys.json', () => {
  const { cases } = loadVectors<{ cases: KeyCase[] }>('channel-keys.json');
  for (const c of cases) {
    it(`${c.suite}: deriveKeys / nextTrafficSecret / deriveRecordKeys give the frozen values`, () => {
      const k = deriveKeys(c.suite, b(c.sharedSecret), b(c.helloHash));
      const e = c.expected;
      assert.equal(hex(k.serverFinishedKey), e.serverFinishedKey);
      assert.equal(hex(k.clientFinishedKey), e.clientFinishedKey);
      assert.equal(hex(k.c2sSecret), e.c2sSecret0);
      assert.equal(hex(k.s2cSecret), e.s2cSecret0);
      assert.equal(hex(k.sessionId), e.sessionId);
      assert.deepEqual(keysJson(k.c2s), e.c2sKeys0);
      assert.deepEqual(keysJson(k.s2c), e.s2cKeys0);
      assert.equal(hex(nextTrafficSecret(k.c2sSecret)), e.c2sSecret1);
      assert.deepEqual(keysJson(deriveRecordKeys(c.suite, b(e.c2sSecret1 as string))), e.c2sKeys1);
      assert.deepEqual(keysJson(deriveRecordKeys(c.suite, b(e.s2cSecret1 as string))), e.s2cKeys1);
    });

    it(`${c.suite}: the frozen values match a hand-written RFC 5869 HKDF and SHA-256`, () => {
      const ss = b(c.sharedSecret);
      const th = b(c.helloHash);
      const e = c.expected;
      assert.equal(hex(refHkdf(ss, th, LABELS.c2sTraffic, 32)), e.c2sSecret0);
      assert.equal(hex(refHkdf(ss, th, LABELS.s2cTraffic, 32)), e.s2cSecret0);
      assert.equal(hex(refHkdf(ss, th, LABELS.serverFinished, 32)), e.serverFinishedKey);
      assert.equal(hex(refHkdf(ss, th, LABELS.clientFinished, 32)), e.clientFinishedKey);
      assert.equal(hex(refHkdf(b(e.c2sSecret0 as string), Buffer.alloc(0), LABELS.trafficUpdate, 32)), e.c2sSecret1);
      const s0 = b(e.c2sSecret0 as string);
      const k0 = e.c2sKeys0 as KeysJson;
      if (c.suite === 'aes-256-gcm') {
        assert.equal(hex(refHkdf(s0, Buffer.alloc(0), LABELS.gcmKey, 32)), k0.key);
        assert.equal(hex(refHkdf(s0, Buffer.alloc(0), LABELS.gcmIv, 12)), k0.iv);
      } else {
        assert.equal(hex(refHkdf(s0, Buffer.alloc(0), LABELS.desKey, 24)), k0.encKey);
        assert.equal(hex(refHkdf(s0, Buffer.alloc(0), LABELS.macKey, 32)), k0.macKey);
      }
      const sid = createHash('sha256').update(LABELS.sessionId).update(th).digest().subarray(0, 8);
      assert.equal(hex(sid), e.sessionId);
    });

    it(`${c.suite}: the frozen c2s secret matches \`openssl kdf HKDF\``, { skip: !hasOpenssl && 'openssl CLI not installed' }, () => {
      const out = openssl(['kdf', '-keylen', '32', '-kdfopt', 'digest:SHA256', '-kdfopt', `hexkey:${c.sharedSecret}`,
        '-kdfopt', `hexsalt:${c.helloHash}`, '-kdfopt', `info:${LABELS.c2sTraffic}`, 'HKDF']);
      assert.equal(out.toString().trim().replace(/:/g, '').toLowerCase(), c.expected.c2sSecret0);
    });
  }
});

describe('channel-records.json', () => {
  const { cases, refusals } = loadVectors<{ cases: RecordCase[]; refusals: Refusal[] }>('channel-records.json');
  for (const c of cases) {
    const keys = keysFrom(c.suite, c.keys);
    const fields = { sessionId: b(c.sessionId), epoch: c.epoch, seq: Number(BigInt('0x' + c.seq)) };

    it(`${c.name}: sealRecord gives the frozen record and openRecord the plaintext`, () => {
      assert.equal(hex(sealRecord(keys, fields, b(c.plaintext), c.recordIv ? b(c.recordIv) : undefined)), c.record);
      assert.equal(hex(openRecord(keys, b(c.record)).plaintext), c.plaintext);
    });

    it(`${c.name}: the frozen record matches an independent computation`, () => {
      const pt = b(c.plaintext);
      if (c.suite === 'aes-256-gcm') {
        const nonce = b((BigInt('0x' + c.keys.iv!) ^ BigInt('0x' + c.seq)).toString(16).padStart(24, '0'));
        const header = refHeader(c.suite, c.epoch, b(c.sessionId), c.seq, pt.length + 16);
        const { ct, tag } = refGcm(b(c.keys.key!), nonce, header, pt);
        assert.equal(hex(Buffer.concat([header, ct, tag])), c.record);
      } else {
        const iv = b(c.recordIv!);
        const ct = refDesCbc(b(c.keys.encKey!), iv, pt);
        const signed = Buffer.concat([refHeader(c.suite, c.epoch, b(c.sessionId), c.seq, 8 + ct.length + 32), iv, ct]);
        const tag = createHmac('sha256', b(c.keys.macKey!)).update(signed).digest();
        assert.equal(hex(Buffer.concat([signed, tag])), c.record);
      }
    });

    if (c.suite === '3des-cbc-hmac-sha256') {
      it(`${c.name}: ciphertext and tag match \`openssl enc -des-ede3-cbc\` and \`openssl dgst -hmac\``, { skip: !hasOpenssl && 'openssl CLI not installed' }, () => {
        const rec = b(c.record);
        const ct = openssl(['enc', '-des-ede3-cbc', '-K', c.keys.encKey!, '-iv', c.recordIv!], b(c.plaintext));
        assert.equal(hex(ct), hex(rec.subarray(32, rec.length - 32)));
        const mac = openssl(['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${c.keys.macKey!}`, '-binary'], rec.subarray(0, rec.length - 32));
        assert.equal(hex(mac), hex(rec.subarray(rec.length - 32)));
      });
    }
  }

  for (const r of refusals) {
    it(`${r.name}: openRecord refuses with ${r.error}`, () => {
      assert.throws(() => openRecord(keysFrom(r.suite, r.keys), b(r.record)), (e: unknown) => isOtaError(e) && e.code === r.error);
    });
  }
});

describe('channel-handshake.json', () => {
  const { cases } = loadVectors<{ cases: HandshakeCase[] }>('channel-handshake.json');
  for (const c of cases) {
    it(`${c.suite}: the recorded handshake verifies step by step and its records open`, async () => {
      const chBytes = b(c.clientHello);
      const shBytes = b(c.serverHello);
      const cfBytes = b(c.finished);
      const ch = decodeHandshake(chBytes);
      const sh = decodeHandshake(shBytes);
      const cf = decodeHandshake(cfBytes);
      assert.ok(ch.type === 'clientHello' && sh.type === 'serverHello' && cf.type === 'finished');
      assert.equal(sh.suite, SUITE_IDS[c.suite]);

      // Certificates chain to the vector CA and name the right roles at the recorded time.
      const trust = await trustStoreFromPem(c.caCertPem);
      const now = new Date(c.now);
      const vehicle = await verifyCertificate(ch.certificate, trust, { role: 'vehicle', cn: c.vehicleId, now });
      const manager = await verifyCertificate(sh.certificate, trust, { role: 'manager', now });

      // ECDH from either side's ephemeral scalar gives the same secret.
      const ce = createECDH('prime256v1');
      ce.setPrivateKey(b(c.clientEphemeralPrivateKey));
      assert.deepEqual(ce.getPublicKey(), Buffer.from(ch.keyShare));
      const se = createECDH('prime256v1');
      se.setPrivateKey(b(c.serverEphemeralPrivateKey));
      assert.deepEqual(se.getPublicKey(), Buffer.from(sh.keyShare));
      const ss = ce.computeSecret(sh.keyShare);
      assert.deepEqual(se.computeSecret(ch.keyShare), ss);

      // Transcript hashes, signatures, Finished MACs (channel-handshake.md §4).
      const sha = (...parts: Uint8Array[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
      const body = shBytes.subarray(0, shBytes.length - 96);
      const helloHash = sha(chBytes, body);
      const signed = (label: string, h: Buffer): Buffer => Buffer.concat([Buffer.from(label), Buffer.of(0), h]);
      assert.ok(verify('sha256', signed(LABELS.serverSignature, helloHash), { key: manager.publicKey, dsaEncoding: 'ieee-p1363' }, sh.signature));
      assert.ok(verify('sha256', signed(LABELS.clientSignature, sha(chBytes, shBytes)), { key: vehicle.publicKey, dsaEncoding: 'ieee-p1363' }, cf.signature));
      assert.equal(new X509Certificate(Buffer.from(sh.certificate)).subject.includes('manager-1'), true);
      const keys = deriveKeys(c.suite, ss, helloHash);
      assert.equal(hex(refHkdf(ss, helloHash, LABELS.serverFinished, 32)), hex(keys.serverFinishedKey));
      const smac = createHmac('sha256', keys.serverFinishedKey).update(sha(chBytes, body, sh.signature)).digest();
      assert.equal(hex(smac), hex(sh.mac));
      const cmac = createHmac('sha256', keys.clientFinishedKey).update(sha(chBytes, shBytes, cfBytes.subarray(0, 66))).digest();
      assert.equal(hex(cmac), hex(cf.mac));
      assert.equal(hex(keys.sessionId), c.sessionId);

      // The first record in each direction opens under the derived generation-0 keys.
      assert.equal(hex(openRecord(keys.c2s, b(c.c2sRecord.record)).plaintext), c.c2sRecord.plaintext);
      assert.equal(hex(openRecord(keys.s2c, b(c.s2cRecord.record)).plaintext), c.s2cRecord.plaintext);
    });
  }
});
