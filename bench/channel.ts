/**
 * Secure channel record throughput: seal + open through two established SecureChannel ends (vehicle →
 * manager), beside the raw node:crypto work the suite cannot avoid, measured in the same run:
 *   aes-256-gcm:          one AES-256-GCM encrypt (with AAD and tag) + one decrypt/verify of the same size;
 *   3des-cbc-hmac-sha256: one des-ede3-cbc encrypt + HMAC-SHA256 over the ciphertext, then one HMAC-SHA256
 *                         and des-ede3-cbc decrypt — the fair baseline, since the suite is encrypt-then-MAC.
 * The ratio (channel / raw) is the share of raw cipher speed left after framing, replay window and rekey
 * accounting; the target is ≥ 0.8 at 16 KiB records.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createCa, issueCertificate, trustStoreFromPem } from '../src/security/pki/index.js';
import { createChannel, type SecureChannel, type SuiteName } from '../src/security/channel/index.js';
import { opsPerSecond, type BenchSection, type Figure } from './harness.js';

const SIZES = [1024, 16384];
/** Each figure is the best of ROUNDS slices of MS ms, channel and raw slices interleaved (this machine is shared). */
const MS = 300;
const ROUNDS = 3;

function interleavedBest(a: () => void, b: () => void): [number, number] {
  let bestA = 0;
  let bestB = 0;
  for (let i = 0; i < ROUNDS; i++) {
    bestA = Math.max(bestA, opsPerSecond(a, MS));
    bestB = Math.max(bestB, opsPerSecond(b, MS));
  }
  return [bestA, bestB];
}

async function establishedPair(suite: SuiteName): Promise<{ vehicle: SecureChannel; manager: SecureChannel }> {
  const ca = await createCa({ name: 'Bench CA' });
  const trust = await trustStoreFromPem(ca.certPem);
  const m = await issueCertificate(ca, { role: 'manager', name: 'manager-bench' });
  const v = await issueCertificate(ca, { role: 'vehicle', name: 'VIN-BENCH' });
  const vehicle = createChannel({ role: 'vehicle', ...v, trust, expectPeer: { role: 'manager' }, suites: [suite] });
  const manager = createChannel({ role: 'manager', ...m, trust, expectPeer: { role: 'vehicle', cn: 'VIN-BENCH' } });
  const sh = await manager.handle(await vehicle.start());
  const cf = await vehicle.handle(sh.reply as Uint8Array);
  await manager.handle(cf.reply as Uint8Array);
  return { vehicle, manager };
}

function rawGcm(size: number): () => void {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const aad = randomBytes(24);
  const pt = randomBytes(size);
  return () => {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const ct = c.update(pt);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    d.update(ct);
    d.final();
  };
}

function rawDes(size: number): () => void {
  const key = randomBytes(24);
  const mac = randomBytes(32);
  const iv = randomBytes(8);
  const pt = randomBytes(size);
  return () => {
    const c = createCipheriv('des-ede3-cbc', key, iv);
    const ct = Buffer.concat([c.update(pt), c.final()]);
    const tag = createHmac('sha256', mac).update(ct).digest();
    if (!timingSafeEqual(createHmac('sha256', mac).update(ct).digest(), tag)) throw new Error('tag');
    const d = createDecipheriv('des-ede3-cbc', key, iv);
    d.update(ct);
    d.final();
  };
}

export const section: BenchSection = {
  title: 'Secure channel: record seal+open throughput vs raw node:crypto',
  async run(): Promise<Figure[]> {
    const figures: Figure[] = [];
    for (const suite of ['aes-256-gcm', '3des-cbc-hmac-sha256'] as SuiteName[]) {
      const { vehicle, manager } = await establishedPair(suite);
      for (const size of SIZES) {
        const pt = randomBytes(size);
        const [channelOps, rawOps] = interleavedBest(
          () => {
            manager.open(vehicle.seal(pt));
          },
          suite === 'aes-256-gcm' ? rawGcm(size) : rawDes(size),
        );
        const mbs = (ops: number): number => (ops * size) / 1e6;
        figures.push({
          name: `${suite} seal+open, ${size / 1024} KiB records`,
          value: mbs(channelOps),
          unit: 'MB/s',
          baseline: {
            name: suite === 'aes-256-gcm' ? 'raw AES-256-GCM encrypt+decrypt' : 'raw des-ede3-cbc encrypt+decrypt + 2× HMAC-SHA256',
            value: mbs(rawOps),
            unit: 'MB/s',
          },
          ratio: channelOps / rawOps,
          target: size === 16384 ? '>= 0.8' : undefined,
        });
      }
    }
    return figures;
  },
};
