/**
 * The embedded MQTT broker (ARCHITECTURE.md §2.1): aedes behind a node:tls listener that demands a
 * client certificate from the fleet CA and honours the CRL in the handshake, then, per MQTT connection:
 *
 *   1. TLS handshake        no certificate, another CA, expired, revoked (CRL) → closed, `TLS_<reason>`
 *   2. identify             the peer certificate verified again against the freshest CRL → role + CN
 *   3. checkConnect         vehicle client id = CN; the last will must pass the publish rule
 *   4. session              a client id held by another identity is refused (no cross-identity takeover)
 *   5. authorizePublish     authorize(); a refused PUBLISH closes the connection (aedes, MQTT-3.3.5-2)
 *   6. authorizeSubscribe   authorize(); a refused filter is granted 0x80 (MQTT 3.1.1 §3.9.3)
 *   7. authorizeForward     defence in depth: nothing reaches a client that may not read its topic
 *
 * Limits (limits.ts, docs/operations.md "Limits"): a packet above `maxPacketBytes` closes the connection
 * at its fixed header; retain only on presence topics; each vehicle's publishes are shaped to its rate,
 * and a client with more than `maxInflight` publishes held back is disconnected.
 *
 * Connected clients are re-checked when the CRL changes and every `sweepMs`: revoked or expired ones
 * are disconnected. aedes 1.x speaks MQTT 3.1 and 3.1.1 only (an MQTT 5 CONNECT gets return code 1).
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { createServer, TLSSocket, type SecureContextOptions } from 'node:tls';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import { loadIssued, verifyCertificate } from '../security/pki/index.js';
import { authorize } from '../security/topics.js';
import { BrokerError } from './errors.js';
import { capPacketSize, ClientRate, resolveLimits, retainAllowed, type BrokerLimits } from './limits.js';
import {
  checkConnect,
  count,
  identifyClient,
  newStats,
  printable,
  reasonOf,
  sameIdentity,
  type BrokerStats,
  type Principal,
} from './policy.js';
import { directoryTrust, staticTrust, type TrustSnapshot, type TrustSource } from './trust.js';

/** Where the broker's TLS material comes from: a PKI directory (`ota pki` layout) or PEM text. */
export type BrokerTls = { pkiDir: string } | { caPem: string; crlPem?: string; certPem: string; keyPem: string };

export type BrokerOptions = BrokerTls & {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 8883; 0 picks a free one). */
  port?: number;
  /** One line per refusal and per trust reload; never a key or a payload. */
  log?: (line: string) => void;
  /** How often connected clients are re-checked for revocation and expiry (default 60 000 ms). */
  sweepMs?: number;
  /** Resource limits; each field defaults to DEFAULT_BROKER_LIMITS. */
  limits?: Partial<BrokerLimits>;
};

/** A running broker. */
export interface Broker {
  url: string;
  host: string;
  port: number;
  /** Live counters: accepted, refused by reason code, dropped while connected. */
  stats: BrokerStats;
  /** The clients connected now. */
  connected(): { clientId: string; role: Principal['role']; cn: string }[];
  /** Replace the CRL (PEM-configured brokers; a `pkiDir` broker follows `crl.pem` by itself). */
  setCrl(crlPem: string): Promise<void>;
  close(): Promise<void>;
}

const RETURN_CODE: Record<string, number> = {
  // MQTT 3.1.1 §3.2.2.3: 2 identifier rejected, 3 server unavailable, 5 not authorized.
  BROKER_CLIENT_ID: 2,
  BROKER_CLIENT_ID_TAKEN: 2,
  BROKER_TRUST_UNAVAILABLE: 3,
};

/** Start the broker; resolves once it listens. */
export async function startBroker(opts: BrokerOptions): Promise<Broker> {
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8883;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new BrokerError('BROKER_BAD_OPTION', `bad port ${port}`);
  const sweepMs = opts.sweepMs ?? 60_000;
  const limits = resolveLimits(opts.limits);

  const { trust, certPem, keyPem } = await loadMaterial(opts, log);
  // Without a usable CRL (directoryTrust logged it) the broker still starts, on the CA alone, and refuses
  // every client in admit() until a valid crl.pem is in place: fail closed, at start as after.
  const initial = await trust.current().catch((err: unknown) => {
    if (trust.anchor !== undefined && err instanceof BrokerError && err.code === 'BROKER_TRUST_UNAVAILABLE') return trust.anchor;
    throw err;
  });
  // Refuse to serve a certificate clients will reject (expired, revoked, not a broker's).
  await verifyCertificate(certPem, initial.store, { role: 'broker' });

  const stats = newStats();
  const principals = new WeakMap<Client, Principal>();
  const wills = new WeakMap<Client, { topic: string; retain?: boolean; payload?: Buffer | string } | null>();
  const live = new Map<string, { client: Client; who: Principal }>();
  const sockets = new Set<Socket>();
  /** Per client: its publish budget (if its role has one) and how many publishes wait for it. */
  const budgets = new WeakMap<Client, { rate: ClientRate; held: number }>();

  const refuseConnect = (client: Client, err: unknown): void => {
    const reason = reasonOf(err);
    count(stats.refused.connections, reason);
    log(`broker: refused connect ${peer(client)}: ${reason}: ${err instanceof Error ? err.message : String(err)}`);
  };

  const aedes = new Aedes({
    connectTimeout: 10_000,
    preConnect(client, packet, done) {
      wills.set(client, packet.will ?? null);
      done(null, true);
    },
    authenticate(client, _username, _password, done) {
      // The certificate is the credential; user name and password are ignored.
      admit(client).then(
        (who) => {
          principals.set(client, who);
          done(null, true);
        },
        (err: unknown) => {
          refuseConnect(client, err);
          const reason = reasonOf(err);
          done(Object.assign(new Error(reason), { returnCode: RETURN_CODE[reason] ?? 5, otaCounted: true }), null);
        },
      );
    },
    authorizePublish(client, packet: PublishPacket, done) {
      const who = client ? principals.get(client) : undefined;
      // A will of a client this broker no longer knows (client null) has nobody to answer for it.
      const reason = !client || !who || !authorize(who, 'publish', packet.topic)
        ? 'BROKER_PUBLISH_DENIED'
        : packet.retain && !retainAllowed(limits, packet.topic, packet.payload.length)
          ? 'BROKER_RETAIN_DENIED'
          : undefined;
      if (reason !== undefined || !client) {
        const code = reason ?? 'BROKER_PUBLISH_DENIED';
        count(stats.refused.publishes, code);
        log(`broker: refused publish ${client ? peer(client) : '(no client)'} topic ${printable(packet.topic)}: ${code}`);
        return done(new BrokerError(code, 'publish not authorized'));
      }
      stats.accepted.publishes++;
      throttle(client, packet.payload.length, done);
    },
    authorizeSubscribe(client, sub: Subscription, done) {
      const who = principals.get(client);
      if (who && authorize(who, 'subscribe', sub.topic)) {
        stats.accepted.subscriptions++;
        return done(null, sub);
      }
      count(stats.refused.subscriptions, 'BROKER_SUBSCRIBE_DENIED');
      log(`broker: refused subscribe ${peer(client)} filter ${printable(sub.topic)}: BROKER_SUBSCRIBE_DENIED`);
      done(null, null); // granted 0x80
    },
    authorizeForward(client, packet) {
      const who = principals.get(client);
      if (who && authorize(who, 'subscribe', packet.topic)) return packet;
      count(stats.dropped, 'BROKER_FORWARD_DENIED');
      return null;
    },
  });

  /**
   * Hold a publish until the client's budget allows it. aedes reads no more of a client's socket until
   * the publishes of its last read are handled, so holding them slows the client down (TCP backpressure).
   */
  function throttle(client: Client, bytes: number, done: (err: Error | null) => void): void {
    const budget = budgets.get(client);
    const wait = budget ? budget.rate.reserve(bytes) : 0;
    if (!budget || wait <= 0) return done(null);
    if (budget.held >= limits.maxInflight) {
      count(stats.dropped, 'BROKER_INFLIGHT_LIMIT');
      log(`broker: disconnected ${peer(client)}: BROKER_INFLIGHT_LIMIT (${budget.held} publishes held back by its rate)`);
      return done(new BrokerError('BROKER_INFLIGHT_LIMIT', 'too many publishes held back by the rate limit'));
    }
    count(stats.limited, 'BROKER_RATE_LIMITED');
    budget.held++;
    setTimeout(() => {
      budget.held--;
      // Gone meanwhile (disconnected, or revoked by the sweep): what it had sent is not delivered.
      if (live.get(client.id)?.client !== client) return done(new BrokerError('BROKER_PUBLISH_DENIED', 'the client left while its publish was held back'));
      done(null);
    }, Math.ceil(wait));
  }

  async function admit(client: Client): Promise<Principal> {
    let snapshot: TrustSnapshot;
    try {
      snapshot = await trust.current();
    } catch (err) {
      throw err instanceof BrokerError ? err : new BrokerError('BROKER_TRUST_UNAVAILABLE', 'trust store unavailable', { cause: err });
    }
    const conn = client.conn;
    const der = conn instanceof TLSSocket ? conn.getPeerCertificate(true).raw : undefined;
    const who = await identifyClient(der === undefined ? undefined : new Uint8Array(der), snapshot.store);
    const will = wills.get(client);
    checkConnect(who, client.id, will);
    if (will?.retain === true && !retainAllowed(limits, will.topic, Buffer.byteLength(will.payload ?? ''))) {
      throw new BrokerError('BROKER_WILL_DENIED', `a retained last will on ${printable(will.topic)} breaks the retain rule`);
    }
    const holder = live.get(client.id);
    if (holder && !sameIdentity(holder.who, who)) {
      throw new BrokerError('BROKER_CLIENT_ID_TAKEN', `client id ${printable(client.id)} is in use by ${holder.who.role} ${printable(holder.who.cn)}`);
    }
    return who;
  }

  aedes.on('clientReady', (client) => {
    const who = principals.get(client);
    if (!who) return void client.close();
    stats.accepted.connections++;
    live.set(client.id, { client, who });
    const rate = who.role === 'vehicle' ? limits.vehicleRate : limits.managerRate;
    if (rate) budgets.set(client, { rate: new ClientRate(rate, () => performance.now()), held: 0 });
  });
  aedes.on('clientDisconnect', (client) => {
    if (live.get(client.id)?.client === client) live.delete(client.id);
  });
  aedes.on('connectionError', (client, err) => {
    if ((err as { otaCounted?: boolean }).otaCounted) return;
    const code = (err as { errorCode?: number }).errorCode;
    refuseConnect(client, { code: code === 1 ? 'MQTT_UNACCEPTABLE_PROTOCOL' : 'MQTT_CONNECT_FAILED', message: err.message });
  });
  // aedes emits 'error' (e.g. a stored will it cannot publish); unhandled, it would end the process.
  (aedes as EventEmitter).on('error', (err: Error) => log(`broker: internal: ${err.message}`));
  await aedes.listen();

  const server = createServer(
    { ...tlsContext(initial, certPem, keyPem), requestCert: true, rejectUnauthorized: true, handshakeTimeout: 10_000, minVersion: 'TLSv1.2' },
    (socket) => {
      socket.setNoDelay(true);
      const client = aedes.handle(socket);
      try {
        capPacketSize(client, limits.maxPacketBytes, (bytes) => {
          count(stats.dropped, 'BROKER_PACKET_TOO_LARGE');
          log(`broker: disconnected ${peer(client)}: BROKER_PACKET_TOO_LARGE (${bytes} bytes > ${limits.maxPacketBytes})`);
        });
      } catch (err) {
        log(`broker: refused connection from ${socket.remoteAddress ?? '?'}: ${reasonOf(err)}`);
        socket.destroy();
      }
    },
  );
  server.on('connection', (raw: Socket) => {
    raw.setNoDelay(true);
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    trust.current().catch(() => undefined); // prompt a CRL reload before the next handshakes
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const why = socket.authorizationError ?? err.code?.replace(/^ERR_SSL_/, '') ?? 'HANDSHAKE';
    const reason = `TLS_${String(why)}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 64);
    count(stats.refused.connections, reason);
    log(`broker: refused connection from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: ${reason}`);
  });

  async function sweep(snapshot?: TrustSnapshot): Promise<void> {
    const s = snapshot ?? (await trust.current());
    const now = Date.now();
    for (const [id, { client, who }] of live) {
      const reason = s.store.revoked.has(who.serial) ? 'BROKER_REVOKED_LIVE' : who.notAfter.getTime() < now ? 'PKI_EXPIRED' : undefined;
      if (reason === undefined) continue;
      live.delete(id);
      count(stats.dropped, reason);
      log(`broker: disconnected ${peer(client)} (${who.role} ${printable(who.cn)} serial ${who.serial}): ${reason}`);
      client.close();
    }
  }
  trust.onChange((snapshot) => {
    server.setSecureContext(tlsContext(snapshot, certPem, keyPem));
    sweep(snapshot).catch(() => undefined);
  });
  const timer = setInterval(() => void sweep().catch(() => undefined), sweepMs);
  timer.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(timer);
    trust.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    throw err;
  }
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;

  let closing: Promise<void> | undefined;
  return {
    url: `mqtts://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    host,
    port: bound,
    stats,
    connected: () => [...live].map(([clientId, { who }]) => ({ clientId, role: who.role, cn: who.cn })),
    setCrl: async (crlPem) => void (await trust.setCrl(crlPem)),
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        trust.close();
        const closed = new Promise<void>((r) => server.close(() => r()));
        await new Promise<void>((r) => aedes.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

async function loadMaterial(
  opts: BrokerTls,
  log: (line: string) => void,
): Promise<{ trust: TrustSource & { anchor?: TrustSnapshot }; certPem: string; keyPem: string }> {
  if ('pkiDir' in opts) {
    const { certPem, keyPem } = await loadIssued(opts.pkiDir, 'broker');
    return { trust: await directoryTrust(opts.pkiDir, log), certPem, keyPem };
  }
  return { trust: await staticTrust(opts.caPem, opts.crlPem), certPem: opts.certPem, keyPem: opts.keyPem };
}

function tlsContext(snapshot: TrustSnapshot, certPem: string, keyPem: string): SecureContextOptions {
  // The CRL in the context makes OpenSSL refuse a revoked certificate in the handshake itself.
  return { ca: snapshot.caPem, cert: certPem, key: keyPem, ...(snapshot.crlPem === undefined ? {} : { crl: snapshot.crlPem }) };
}

function peer(client: Client): string {
  const conn = client.conn as Partial<Socket>;
  return `client ${printable(client.id ?? '')} from ${conn.remoteAddress ?? '?'}:${conn.remotePort ?? '?'}`;
}
