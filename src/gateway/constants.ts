/**
 * The gateway's own numbers in one place: its version and capabilities as `announce` reports them, the
 * stable codes of its refusals and diagnostic errors, and the defaults of every timer it runs.
 */

/** Software version of the telematics unit, reported in `announce.gateway.version`. */
export const GATEWAY_VERSION = '0.1.0';

/** What this gateway can do for the manager (`announce.gateway.capabilities`). */
export const GATEWAY_CAPABILITIES = ['diag'] as const;

/** Codes the gateway itself produces (channel refusals keep their SC_* / PKI_* codes, messages OTA_MSG_*). */
export const GW_CODES = {
  /** diag.request for an ECU this vehicle does not have. */
  unknownEcu: 'GW_UNKNOWN_ECU',
  /** Too many requests already queued for one ECU. */
  busy: 'GW_BUSY',
  /** A control message the manager must not send (announce, diag.response). */
  unexpectedMessage: 'GW_UNEXPECTED_MESSAGE',
  /** A message class the gateway does not handle yet (bulk data before the update flow exists). */
  unsupportedMessage: 'GW_UNSUPPORTED_MESSAGE',
  /** A record arrived while no session was established. */
  noSession: 'GW_NO_SESSION',
  /** The gateway was closed while a request waited. */
  closed: 'GW_CLOSED',
  /** The broker URL is not mqtts:// (the link must be TLS, ARCHITECTURE §2.1). */
  insecureBroker: 'GW_INSECURE_BROKER',
  /** A publish while the broker connection is down. */
  notConnected: 'GW_NOT_CONNECTED',
  /** The broker connection failed a publish. */
  publish: 'GW_PUBLISH',
  /** Gateway configuration error (duplicate ECU names, bad vehicle id). */
  config: 'GW_CONFIG',
} as const;

/** Defaults of `createGateway` options (all in ms unless named otherwise). */
export const GATEWAY_DEFAULTS = {
  /** connected-system.md §Session life 4: at most one handshake per 2 s in answer to HelloRequests. */
  helloRequestIntervalMs: 2000,
  /** A ClientHello without ServerHello is retried after this, doubling up to `handshakeRetryMaxMs`. */
  handshakeTimeoutMs: 10_000,
  handshakeRetryMaxMs: 60_000,
  /** Reconnect backoff: first delay, ceiling, growth factor, jitter fraction (±). */
  reconnect: { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 },
  /** MQTT keep-alive (seconds) and CONNACK wait. */
  mqttKeepaliveSec: 30,
  connectTimeoutMs: 10_000,
  /** diag.request without timeoutMs: the overall wait for the final response, 0x78 extensions included. */
  diagTimeoutMs: 30_000,
  /** Requests waiting for one ECU beyond the one in work; more → GW_BUSY. */
  maxQueuedPerEcu: 16,
  /** After a positive ECUReset the gateway re-reads that ECU's inventory after this delay. */
  inventoryAfterResetMs: 300,
} as const;
