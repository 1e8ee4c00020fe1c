/**
 * What the broker trusts, kept current: the fleet CA (fixed for the broker's life) and the CRL, which
 * `ota pki revoke` rewrites while the broker runs. Every connect asks `current()`, which re-reads
 * crl.pem when its stat (mtime, size, inode) changed, so a revocation is honoured by the next connect
 * even if the file watcher missed it. An unreadable or unsigned CRL fails closed: no client is admitted
 * until a valid one is in place.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { trustStoreFromPem, type TrustStore } from '../security/pki/index.js';
import { BrokerError } from './errors.js';

/** The trust store and the PEM it was built from (the TLS context needs the PEM). */
export interface TrustSnapshot {
  store: TrustStore;
  caPem: string;
  crlPem: string | undefined;
}

/** A trust store that can change while the broker runs. */
export interface TrustSource {
  /** The trust to verify with now; BROKER_TRUST_UNAVAILABLE while the CRL on disk is unusable. */
  current(): Promise<TrustSnapshot>;
  /** Replace the CRL (PEM-configured brokers; a directory-backed source re-reads its file instead). */
  setCrl(crlPem: string): Promise<TrustSnapshot>;
  /** Called after every successful change of the CRL. */
  onChange(listener: (snapshot: TrustSnapshot) => void): void;
  close(): void;
}

/** A trust source from PEM text: changes only through `setCrl`. */
export async function staticTrust(caPem: string, crlPem?: string): Promise<TrustSource> {
  let snapshot = await build(caPem, crlPem);
  const listeners: ((s: TrustSnapshot) => void)[] = [];
  return {
    current: () => Promise.resolve(snapshot),
    async setCrl(pem) {
      snapshot = await build(caPem, pem);
      for (const l of listeners) l(snapshot);
      return snapshot;
    },
    onChange: (l) => void listeners.push(l),
    close: () => undefined,
  };
}

/**
 * A trust source over a PKI directory: `ca.pem` read once, `crl.pem` re-read when it changes (checked
 * on every `current()` and prompted by a directory watcher). A CRL that is missing — at start or later —
 * or unusable is an error, not an amnesty: every client is refused until a valid one is in place.
 * `anchor` is the CA alone, for the TLS context while there is no usable CRL (admission still refuses).
 */
export async function directoryTrust(dir: string, log: (line: string) => void = () => undefined): Promise<TrustSource & { anchor: TrustSnapshot }> {
  const crlPath = join(dir, 'crl.pem');
  const caPem = await readPem(join(dir, 'ca.pem'));
  const anchor = await build(caPem, undefined);
  let signature = UNREAD;
  let state: { ok: true; snapshot: TrustSnapshot } | { ok: false; error: BrokerError } = { ok: true, snapshot: anchor };
  let reloading: Promise<void> | undefined;
  const listeners: ((s: TrustSnapshot) => void)[] = [];

  async function reload(sig: string): Promise<void> {
    try {
      if (sig === MISSING) throw new BrokerError('BROKER_TRUST_UNAVAILABLE', `${crlPath} is missing`);
      const snapshot = await build(caPem, await readPem(crlPath));
      const first = signature === UNREAD;
      state = { ok: true, snapshot };
      signature = sig;
      if (first) return;
      log(`broker: trust store reloaded (${snapshot.store.revoked.size} revoked)`);
      for (const l of listeners) l(snapshot);
    } catch (err) {
      const error =
        err instanceof BrokerError ? err : new BrokerError('BROKER_TRUST_UNAVAILABLE', `${crlPath} cannot be used`, { cause: err });
      if (state.ok) log(`broker: ${error.code}: ${error.message}; refusing every client until it is fixed (ota pki crl --dir ${dir} rewrites it)`);
      state = { ok: false, error };
      signature = sig;
    }
  }

  async function current(): Promise<TrustSnapshot> {
    const sig = await fileSignature(crlPath);
    if (sig !== signature) {
      reloading ??= reload(sig).finally(() => (reloading = undefined));
      await reloading;
    } else if (reloading) {
      await reloading;
    }
    if (!state.ok) throw state.error;
    return state.snapshot;
  }

  await current().catch(() => undefined); // the first read: logs and fails closed when the CRL is missing or bad

  let watcher: FSWatcher | undefined;
  try {
    // The CRL is replaced by rename, so watch the directory; the stat check in current() decides.
    watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || name === 'crl.pem') current().catch(() => undefined);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // no watcher on this platform: the per-connect check still applies
  }

  return {
    anchor,
    current,
    setCrl: () => Promise.reject(new BrokerError('BROKER_BAD_OPTION', `the CRL of a directory-backed broker is ${crlPath}`)),
    onChange: (l) => void listeners.push(l),
    close: () => watcher?.close(),
  };
}

const MISSING = 'missing';
const UNREAD = 'unread';

async function fileSignature(path: string): Promise<string> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.mtimeNs}:${s.size}:${s.ino}`;
  } catch {
    return MISSING;
  }
}

async function build(caPem: string, crlPem: string | undefined): Promise<TrustSnapshot> {
  return { store: await trustStoreFromPem(caPem, crlPem), caPem, crlPem };
}

async function readPem(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new BrokerError('BROKER_TRUST_UNAVAILABLE', `cannot read ${path}`, { cause: err });
  }
}
