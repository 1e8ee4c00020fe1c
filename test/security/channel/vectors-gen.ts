/**
 * Generates docs/test-vectors/channel-{keys,records,handshake}.json. Run once, review, then the files are
 * frozen: vectors.test.ts checks the code against them. Writes only when asked:
 *   OTA_WRITE_VECTORS=1 node --import tsx test/security/channel/vectors-gen.ts
 * (Under `node --test` this file is loaded too; without the variable it does nothing.)
 */
import { createHash, createECDH } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, trustStoreFromPem } from '../../../src/security/pki/index.js';
import {
  createChannel,
  decodeHandshake,
  deriveKeys,
  deriveRecordKeys,
  nextTrafficSecret,
  sealRecord,
  type RecordKeys,
  type SuiteName,
} from '../../../src/security/channel/index.js';
import { repoRoot } from './vectors-io.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Deterministic byte stream: SHA-256(seed ‖ counter) blocks; logs every draw. */
function drbg(seed: string): { rng: (n: number) => Uint8Array; draws: Uint8Array[] } {
  let counter = 0;
  const draws: Uint8Array[] = [];
  return {
    draws,
    rng: (n) => {
      const out = Buffer.alloc(n);
      for (let at = 0; at < n; at += 32) sha(`${seed}/${counter++}`).copy(out, at);
      draws.push(out);
      return out;
    },
  };
}

function keysJson(k: RecordKeys): Record<string, string> {
  return k.suite === 'aes-256-gcm' ? { key: hex(k.key), iv: hex(k.iv) } : { encKey: hex(k.encKey), macKey: hex(k.macKey) };
}

function keyVectors(): unknown {
  const sharedSecret = Buffer.from(Array.from({ length: 32 }, (_, i) => i)); // 00 01 .. 1f
  const helloHash = sha('OTA-SC/1 key schedule test vector');
  const cases = (['aes-256-gcm', '3des-cbc-hmac-sha256'] as SuiteName[]).map((suite) => {
    const k = deriveKeys(suite, sharedSecret, helloHash);
    const c2s1 = nextTrafficSecret(k.c2sSecret);
    const s2c1 = nextTrafficSecret(k.s2cSecret);
    return {
      suite,
      sharedSecret: hex(sharedSecret),
      helloHash: hex(helloHash),
      expected: {
        serverFinishedKey: hex(k.serverFinishedKey),
        clientFinishedKey: hex(k.clientFinishedKey),
        c2sSecret0: hex(k.c2sSecret),
        s2cSecret0: hex(k.s2cSecret),
        sessionId: hex(k.sessionId),
        c2sKeys0: keysJson(k.c2s),
        s2cKeys0: keysJson(k.s2c),
        c2sSecret1: hex(c2s1),
        s2cSecret1: hex(s2c1),
        c2sKeys1: keysJson(deriveRecordKeys(suite, c2s1)),
        s2cKeys1: keysJson(deriveRecordKeys(suite, s2c1)),
      },
    };
  });
  return { format: 'OTA-SC/1 key schedule vectors (see channel-keys.md)', cases };
}

function recordVectors(): unknown {
  const gcm = deriveRecordKeys('aes-256-gcm', sha('gcm traffic secret'));
  const des = deriveRecordKeys('3des-cbc-hmac-sha256', sha('3des traffic secret'));
  const sessionId = Buffer.from('5e5510de5e5510de', 'hex');
  const pts: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['uds', Buffer.from('22f190', 'hex')],
    ['8 bytes (3DES: a whole padding block)', Buffer.from('0001020304050607', 'hex')],
    ['33 bytes', Buffer.from('The quick brown fox jumps over it')],
  ];
  const seqs = [0, 1, 0x0000_0001_0000_0005, 2 ** 53 - 1];
  const cases: unknown[] = [];
  for (const keys of [gcm, des]) {
    pts.forEach(([name, plaintext], i) => {
      const seq = seqs[i] as number;
      const epoch = i === 3 ? 0xff : i;
      const iv = keys.suite === '3des-cbc-hmac-sha256' ? sha(`iv ${i}`).subarray(0, 8) : undefined;
      const record = sealRecord(keys, { sessionId, epoch, seq }, plaintext, iv);
      cases.push({
        name: `${keys.suite} ${name}`,
        suite: keys.suite,
        keys: keysJson(keys),
        sessionId: hex(sessionId),
        epoch,
        seq: seq.toString(16).padStart(16, '0'),
        ...(iv ? { recordIv: hex(iv) } : {}),
        plaintext: hex(plaintext),
        record: hex(record),
      });
    });
  }
  const g = Buffer.from(sealRecord(gcm, { sessionId, epoch: 0, seq: 7 }, Buffer.from('refuse me')));
  const d = Buffer.from(sealRecord(des, { sessionId, epoch: 0, seq: 7 }, Buffer.from('refuse me'), Buffer.alloc(8, 0xee)));
  const flipAt = (b: Buffer, at: number): string => {
    const c = Buffer.from(b);
    c[at] = (c[at] as number) ^ 1;
    return hex(c);
  };
  const refusals = [
    { name: 'aes-256-gcm flipped tag bit', suite: 'aes-256-gcm', keys: keysJson(gcm), record: flipAt(g, g.length - 1), error: 'SC_BAD_TAG' },
    { name: 'aes-256-gcm flipped sequence bit', suite: 'aes-256-gcm', keys: keysJson(gcm), record: flipAt(g, 19), error: 'SC_BAD_TAG' },
    { name: 'aes-256-gcm truncated', suite: 'aes-256-gcm', keys: keysJson(gcm), record: hex(g.subarray(0, -1)), error: 'SC_TRUNCATED' },
    { name: '3des flipped IV bit', suite: '3des-cbc-hmac-sha256', keys: keysJson(des), record: flipAt(d, 24), error: 'SC_BAD_TAG' },
    { name: '3des flipped ciphertext bit', suite: '3des-cbc-hmac-sha256', keys: keysJson(des), record: flipAt(d, 33), error: 'SC_BAD_TAG' },
    { name: '3des flipped header length', suite: '3des-cbc-hmac-sha256', keys: keysJson(des), record: flipAt(d, 23), error: 'SC_TRUNCATED' },
  ];
  return { format: 'OTA-SC/1 record protection vectors (see channel-records.md)', cases, refusals };
}

async function handshakeVectors(): Promise<unknown> {
  const now = new Date();
  const ca = await createCa({ name: 'OTA-SC vector CA' });
  const trust = await trustStoreFromPem(ca.certPem);
  const manager = await issueCertificate(ca, { role: 'manager', name: 'manager-1' });
  const vehicle = await issueCertificate(ca, { role: 'vehicle', name: 'VIN-VECTOR-0001' });
  const out = [];
  for (const suite of ['aes-256-gcm', '3des-cbc-hmac-sha256'] as SuiteName[]) {
    const c = drbg(`client ${suite}`);
    const s = drbg(`server ${suite}`);
    const v = createChannel({ role: 'vehicle', ...vehicle, trust, expectPeer: { role: 'manager' }, suites: [suite], rng: c.rng });
    const m = createChannel({ role: 'manager', ...manager, trust, expectPeer: { role: 'vehicle', cn: 'VIN-VECTOR-0001' }, rng: s.rng });
    const ch = await v.start();
    const sh = (await m.handle(ch)).reply as Uint8Array;
    const cf = (await v.handle(sh)).reply as Uint8Array;
    await m.handle(cf);
    const [cPriv, sPriv] = [c.draws[0] as Uint8Array, s.draws[0] as Uint8Array];
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(cPriv);
    const hello = decodeHandshake(ch);
    if (hello.type !== 'clientHello' || !ecdh.getPublicKey().equals(hello.keyShare)) throw new Error('client scalar is not draw 0');
    const up = v.seal(Buffer.from('hello manager'));
    const down = m.seal(Buffer.from('hello vehicle'));
    out.push({
      suite,
      now: now.toISOString(),
      vehicleId: 'VIN-VECTOR-0001',
      caCertPem: ca.certPem,
      clientEphemeralPrivateKey: hex(cPriv),
      serverEphemeralPrivateKey: hex(sPriv),
      clientHello: hex(ch),
      serverHello: hex(sh),
      finished: hex(cf),
      sessionId: hex(v.sessionId as Uint8Array),
      c2sRecord: { plaintext: hex(Buffer.from('hello manager')), record: hex(up) },
      s2cRecord: { plaintext: hex(Buffer.from('hello vehicle')), record: hex(down) },
    });
  }
  return { format: 'OTA-SC/1 recorded handshakes (see channel-handshake.md)', cases: out };
}

if (process.env.OTA_WRITE_VECTORS === '1') {
  const dir = join(repoRoot(), 'docs', 'test-vectors');
  writeFileSync(join(dir, 'channel-keys.json'), JSON.stringify(keyVectors(), null, 2) + '\n');
  writeFileSync(join(dir, 'channel-records.json'), JSON.stringify(recordVectors(), null, 2) + '\n');
  writeFileSync(join(dir, 'channel-handshake.json'), JSON.stringify(await handshakeVectors(), null, 2) + '\n');
  console.log(`wrote ${dir}/channel-{keys,records,handshake}.json`);
}
