/**
 * The trust store of a PKI directory, kept current while a part runs: `ca.pem` read once, `crl.pem`
 * re-read whenever it changes (`ota pki revoke` replaces it by rename). The same approach as the
 * embedded broker's (src/broker/trust.ts): a directory watcher prompts a reload and every `current()`
 * compares the file's stat (mtime, size, inode), so a change counts at the next use even if the watcher
 * missed it; a poll (default once a second) bounds how late listeners hear of it. A CRL that becomes
 * unreadable, unsigned or disappears fails closed: `current()` throws PKI_TRUST_UNAVAILABLE until a
 * valid one is back.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PkiError } from './errors.js';
import { trustStoreFromPem, type TrustStore } from './verify.js';

/** A trust store that follows its directory's `crl.pem`. */
export interface LiveTrust {
  /** The trust to verify with now (re-reads crl.pem if it changed); PKI_TRUST_UNAVAILABLE while it is unusable. */
  current(): Promise<TrustStore>;
  /** The CA alone (no CRL): for a TLS context while there is no usable CRL — admission must still refuse. */
  readonly anchor: TrustStore;
  /** Called after every successful change of the CRL (with the new store). */
  onChange(listener: (trust: TrustStore) => void): void;
  close(): void;
}

export interface WatchTrustOptions {
  /** How often the file is checked besides the watcher (default 1000 ms). */
  pollMs?: number;
  /** Reload lines. */
  log?: (line: string) => void;
  /** Called once each time the CRL becomes unusable (missing, unreadable, unsigned), at start included; instead of the log line. */
  onUnavailable?: (error: PkiError) => void;
}

const MISSING = 'missing';
const UNREAD = 'unread';

/**
 * Open `dir` (PKI_NOT_FOUND when its CA cannot be read). A CRL that is missing or unusable — at start or
 * later — is never read as "nothing is revoked": `current()` fails closed until a valid one is in place.
 */
export async function watchTrustDir(dir: string, opts: WatchTrustOptions = {}): Promise<LiveTrust> {
  const log = opts.log ?? (() => undefined);
  const crlPath = join(dir, 'crl.pem');
  let caPem: string;
  try {
    caPem = await readFile(join(dir, 'ca.pem'), 'utf8');
  } catch (err) {
    throw new PkiError('PKI_NOT_FOUND', `cannot read ${join(dir, 'ca.pem')}`, { cause: err });
  }
  const anchor = await trustStoreFromPem(caPem, undefined);
  let signature = UNREAD;
  let state: { ok: true; trust: TrustStore } | { ok: false; error: PkiError } = {
    ok: false,
    error: new PkiError('PKI_TRUST_UNAVAILABLE', `${crlPath} not read yet`),
  };
  let reloading: Promise<void> | undefined;
  const listeners: ((t: TrustStore) => void)[] = [];

  async function reload(sig: string): Promise<void> {
    const first = signature === UNREAD;
    try {
      if (sig === MISSING) throw new PkiError('PKI_TRUST_UNAVAILABLE', `${crlPath} is missing`);
      const trust = await trustStoreFromPem(caPem, await readFile(crlPath, 'utf8'));
      state = { ok: true, trust };
      signature = sig;
      if (first) return;
      log(`trust store reloaded: CRL ${trust.crl?.number ?? '-'}, ${trust.revoked.size} revoked`);
      for (const l of listeners) l(trust);
    } catch (err) {
      const error = err instanceof PkiError && err.code === 'PKI_TRUST_UNAVAILABLE' ? err : new PkiError('PKI_TRUST_UNAVAILABLE', `${crlPath} cannot be used`, { cause: err });
      const announce = first || state.ok;
      state = { ok: false, error };
      signature = sig;
      if (announce) {
        if (opts.onUnavailable) opts.onUnavailable(error);
        else log(`${error.code}: ${error.message}; refusing every peer until it is fixed`);
      }
    }
  }

  async function current(): Promise<TrustStore> {
    const sig = await fileSignature(crlPath);
    if (sig !== signature) {
      reloading ??= reload(sig).finally(() => (reloading = undefined));
      await reloading;
    } else if (reloading) {
      await reloading;
    }
    if (!state.ok) throw state.error;
    return state.trust;
  }

  await current().catch(() => undefined); // the first read: fails closed (and says so) when the CRL is missing or bad

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || name === 'crl.pem') current().catch(() => undefined);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // the per-use check and the poll still apply
  }
  const poll = setInterval(() => void current().catch(() => undefined), opts.pollMs ?? 1000);
  poll.unref();

  return {
    current,
    anchor,
    onChange: (l) => void listeners.push(l),
    close: () => {
      clearInterval(poll);
      watcher?.close();
    },
  };
}

async function fileSignature(path: string): Promise<string> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.mtimeNs}:${s.size}:${s.ino}`;
  } catch {
    return MISSING;
  }
}
