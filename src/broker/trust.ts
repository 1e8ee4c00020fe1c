/**
 * What the broker trusts, kept current: the fleet CA (fixed for the broker's life) and the CRL, which
 * `ota pki revoke` rewrites while the broker runs. Every connect asks `current()`, which re-reads
 * crl.pem when its stat (mtime, size, inode) changed, so a revocation is honoured by the next connect
 * even if the file watcher missed it. An unreadable or unsigned CRL fails closed: no client is admitted
 * until a valid one is in place.
 */
import { join } from 'node:path';
import { crlPem, trustStoreFromPem, watchTrustDir, type LiveTrust, type TrustStore } from '../security/pki/index.js';
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
 * A trust source over a PKI directory: `ca.pem` read once, `crl.pem` followed as it changes — the
 * security layer's `watchTrustDir` (a directory watcher, a stat check on every `current()`, a poll),
 * which the manager uses too. A CRL that is missing — at start or later — or unusable is an error, not
 * an amnesty: every connect is refused BROKER_TRUST_UNAVAILABLE until a valid one is in place.
 * `anchor` is the CA alone, for the TLS context while there is no usable CRL (admission still refuses).
 */
export async function directoryTrust(dir: string, log: (line: string) => void = () => undefined): Promise<TrustSource & { anchor: TrustSnapshot }> {
  const crlPath = join(dir, 'crl.pem');
  let live: LiveTrust;
  try {
    live = await watchTrustDir(dir, {
      log: (line) => log(`broker: ${line}`),
      onUnavailable: (error) =>
        log(`broker: BROKER_TRUST_UNAVAILABLE: ${error.message}; refusing every client until it is fixed (ota pki crl --dir ${dir} rewrites it)`),
    });
  } catch (err) {
    throw new BrokerError('BROKER_TRUST_UNAVAILABLE', `cannot use the CA in ${dir}`, { cause: err });
  }
  const snapshots = new WeakMap<TrustStore, TrustSnapshot>();
  const snapshot = (store: TrustStore): TrustSnapshot => {
    let s = snapshots.get(store);
    if (s === undefined) {
      s = { store, caPem: store.caPem, crlPem: store.crl === undefined ? undefined : crlPem(store.crl.der) };
      snapshots.set(store, s);
    }
    return s;
  };
  return {
    anchor: snapshot(live.anchor),
    current: async () => {
      try {
        return snapshot(await live.current());
      } catch (err) {
        throw new BrokerError('BROKER_TRUST_UNAVAILABLE', `${crlPath} cannot be used`, { cause: err });
      }
    },
    setCrl: () => Promise.reject(new BrokerError('BROKER_BAD_OPTION', `the CRL of a directory-backed broker is ${crlPath}`)),
    onChange: (l) => live.onChange((store) => l(snapshot(store))),
    close: () => live.close(),
  };
}

async function build(caPem: string, crlPem: string | undefined): Promise<TrustSnapshot> {
  return { store: await trustStoreFromPem(caPem, crlPem), caPem, crlPem };
}
