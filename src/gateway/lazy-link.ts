/**
 * A `UdsLink` that opens its underlying link on first use and again after it failed — for ECUs behind a
 * connection that can drop (a DoIP entity that restarts, a TCP link): the failed request reports the
 * link error, the next request reconnects. Response listeners survive reconnects.
 */
import { isOtaError } from '../protocol/errors.js';
import type { UdsLink } from '../protocol/uds/ports.js';

/** Error codes after which the underlying link is considered dead and is reopened on the next send. */
export const LINK_DEAD_CODES: ReadonlySet<string> = new Set([
  'DOIP_CONNECTION_CLOSED',
  'DOIP_CONNECT',
  'DOIP_TIMEOUT_CONNECT',
  'DOIP_TIMEOUT_ACTIVATION',
  'DOIP_TIMEOUT_ACK',
]);

export interface LazyLinkOptions {
  /** Whether an error from `send` means the link must be reopened (default: code in LINK_DEAD_CODES, or not an OtaError). */
  isDead?: (error: unknown) => boolean;
}

/** What `open` gives: the link, and optionally a way to hear that it went down (then it is reopened on the next send). */
export interface OpenedLink {
  link: UdsLink;
  onDown?: (listener: () => void) => void;
}

/** Wraps `open` as a link that (re)connects on demand. */
export function createLazyLink(open: () => Promise<OpenedLink>, options: LazyLinkOptions = {}): UdsLink {
  const isDead = options.isDead ?? ((e: unknown) => !isOtaError(e) || LINK_DEAD_CODES.has(e.code) || e.code.startsWith('DOIP_ROUTING_'));
  const listeners = new Set<(response: Uint8Array) => void>();
  let current: Promise<{ link: UdsLink; off: () => void }> | undefined;
  let closed = false;

  const connect = (): Promise<{ link: UdsLink; off: () => void }> => {
    if (current !== undefined) return current;
    const attempt: Promise<{ link: UdsLink; off: () => void }> = open().then(
      ({ link, onDown }) => {
        onDown?.(() => {
          if (current === attempt) void drop();
        });
        return { link, off: link.onResponse((r) => { for (const l of [...listeners]) l(r); }) };
      },
      (e: unknown) => {
        if (current === attempt) current = undefined;
        throw e;
      },
    );
    current = attempt;
    return attempt;
  };

  const drop = async (): Promise<void> => {
    const held = current;
    current = undefined;
    if (held === undefined) return;
    try {
      const { link, off } = await held;
      off();
      await link.close();
    } catch {
      // Already failed or closed: nothing to release.
    }
  };

  return {
    async send(request) {
      if (closed) throw new Error('link closed');
      const held = connect();
      const { link } = await held;
      try {
        await link.send(request);
      } catch (e) {
        if (isDead(e) && current === held) await drop();
        throw e;
      }
    },
    onResponse(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      closed = true;
      await drop();
    },
  };
}
