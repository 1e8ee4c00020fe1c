/**
 * The gateway's own numbers in one place: its version and capabilities as `announce` reports them, the
 * stable codes of its refusals and diagnostic errors, and the defaults of every timer it runs.
 */

/** Software version of the telematics unit, reported in `announce.gateway.version`. */
export const GATEWAY_VERSION = '0.1.0';

/** What this gateway can do for the manager (`announce.gateway.capabilities`); `update` is added when it has a data directory. */
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
  /** update.offer to a gateway without a data directory (it cannot keep an image). */
  updateUnavailable: 'GW_UPDATE_UNAVAILABLE',
  /** update.offer for an ECU whose SecurityAccess secret the gateway was not given. */
  noSecret: 'GW_NO_SECRET',
  /** update.offer whose chunk geometry does not cover the manifest's length, or that contradicts the job. */
  badOffer: 'GW_BAD_OFFER',
  /** A chunk or update.cancel for a job the gateway is not downloading. */
  unknownJob: 'GW_UNKNOWN_JOB',
  /** update.offer reusing the id of a finished job with an assignment it was never offered with. */
  jobFinished: 'GW_JOB_FINISHED',
  /** The job was cancelled by the manager before the flash started. */
  cancelled: 'GW_CANCELLED',
  /** A download replaced by a newer verified offer for the same ECU. */
  superseded: 'GW_SUPERSEDED',
  /** update.cancel after the flash started (the flash runs to its end). */
  cancelTooLate: 'GW_CANCEL_TOO_LATE',
  /** crl.update whose `number` is not the number of the CRL it carries. */
  badCrl: 'GW_BAD_CRL',
} as const;

/** The manager identity a gateway accepts when its provisioning names none (`ota pki issue --role manager --name manager`). */
export const DEFAULT_MANAGER_IDENTITY = 'manager';

/** Where a gateway with a data directory keeps the newest CRL the manager sent (survives restarts). */
export const CRL_FILE = 'crl.pem';

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
  /** Update agent (update-flow.md): chunks the manager may keep unacknowledged, status rate limit, flash attempts. */
  update: {
    window: 32,
    /** At most one update.status per job per this interval (≤ 5/s); phase changes always go out. */
    statusIntervalMs: 200,
    /** Attempts of a flash that failed on a timeout or the link (a refusal by the ECU is not retried). */
    flashAttempts: 2,
    /** Chunks received but not yet acknowledged are acknowledged once no chunk came for this long. */
    ackIdleMs: 5,
  },
} as const;
