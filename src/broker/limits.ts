/**
 * The embedded broker's resource limits (docs/operations.md "Limits"): free of sockets but for the one
 * hook into the aedes client's MQTT parser.
 *
 *   maxPacketBytes   a packet whose fixed header announces more is refused before its body is read
 *   retain           only on the topics the design retains (presence, `ota/v1/<V>/status`), small
 *   per-client rate  vehicles: publishes and bytes per second (token buckets); beyond it the broker
 *                    holds the client's publishes back, and so stops reading its socket (TCP backpressure)
 *   maxInflight      publishes of one client held back at once; more → the client is disconnected
 */
import { SIZES, maxBodyLength } from '../security/channel/index.js';
import { parseVehicleTopic, type UplinkLeaf } from '../security/topics.js';
import { BrokerError } from './errors.js';

/** Sustained rate and burst of one client's publishes. */
export interface PublishRate {
  /** Publishes per second, sustained. */
  messagesPerSecond: number;
  /** Payload bytes per second, sustained. */
  bytesPerSecond: number;
  /** How many seconds of the sustained rate may come at once (the bucket size). */
  burstSeconds: number;
}

export interface BrokerLimits {
  /** Largest MQTT packet a client may send, fixed header included (Mosquitto's `max_packet_size`). */
  maxPacketBytes: number;
  /** Topic leaves (of `ota/v1/<V>/…`) on which a PUBLISH may set the retain flag. */
  retainLeaves: readonly UplinkLeaf[];
  /** Largest payload of a retained PUBLISH (`online` / `offline` are 6 and 7 bytes). */
  maxRetainedBytes: number;
  /** Rate of each vehicle client; `null`: unlimited. */
  vehicleRate: PublishRate | null;
  /** Rate of each manager client; `null` (default): unlimited (bulk firmware goes through managers). */
  managerRate: PublishRate | null;
  /** Publishes of one client held back by its rate at once; one more disconnects it. */
  maxInflight: number;
}

/**
 * Largest secure-channel record on the wire: header plus the largest body of any suite (3DES-CBC with a
 * full block of padding, IV and HMAC is the larger: 65 608 bytes for 64 KiB of plaintext).
 */
export const MAX_RECORD_BYTES = SIZES.recordHeader + Math.max(maxBodyLength('aes-256-gcm'), maxBodyLength('3des-cbc-hmac-sha256'));

/**
 * MQTT framing around one record: fixed header (1 + up to 4 length bytes), topic (2 + `ota/v1/` + a
 * 64-character vehicle id + `/down/rec`), packet identifier (2); rounded up.
 */
const MQTT_OVERHEAD = 512;

export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  maxPacketBytes: MAX_RECORD_BYTES + MQTT_OVERHEAD,
  retainLeaves: ['status'],
  maxRetainedBytes: 64,
  // A gateway sends an ack every half window of chunks, a diag response per request, a status per
  // connect; a diagnostics console hammering one vehicle reaches a few hundred a second. Above these a
  // vehicle only floods: 1000 records a second, 8 MiB/s (128 full 64 KiB records), two seconds of burst.
  vehicleRate: { messagesPerSecond: 1000, bytesPerSecond: 8 * 1024 * 1024, burstSeconds: 2 },
  managerRate: null,
  maxInflight: 100,
};

/** Merge `partial` over the defaults and check every value; BROKER_BAD_OPTION when one is unusable. */
export function resolveLimits(partial: Partial<BrokerLimits> = {}): BrokerLimits {
  const limits = { ...DEFAULT_BROKER_LIMITS, ...partial };
  const positiveInt = (name: string, v: number, min = 1): void => {
    if (!Number.isSafeInteger(v) || v < min) throw new BrokerError('BROKER_BAD_OPTION', `limit ${name} must be an integer >= ${min}, not ${v}`);
  };
  // Below the largest record the system itself could no longer speak; 268 435 460 is MQTT's own ceiling.
  positiveInt('maxPacketBytes', limits.maxPacketBytes, 1024);
  if (limits.maxPacketBytes > 268_435_460) throw new BrokerError('BROKER_BAD_OPTION', 'limit maxPacketBytes is above the MQTT maximum');
  positiveInt('maxRetainedBytes', limits.maxRetainedBytes, 0);
  positiveInt('maxInflight', limits.maxInflight);
  for (const [name, rate] of [['vehicleRate', limits.vehicleRate], ['managerRate', limits.managerRate]] as const) {
    if (rate === null) continue;
    for (const k of ['messagesPerSecond', 'bytesPerSecond', 'burstSeconds'] as const) {
      if (!Number.isFinite(rate[k]) || rate[k] <= 0) throw new BrokerError('BROKER_BAD_OPTION', `limit ${name}.${k} must be a positive number`);
    }
  }
  return limits;
}

/** The whole size of an MQTT packet whose remaining length is `remaining` (MQTT 3.1.1 §2.2.3). */
export function packetBytes(remaining: number): number {
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

/**
 * May a PUBLISH with the retain flag go to `topic` with `payloadBytes`? The design retains presence
 * only (ARCHITECTURE.md §3); anything else retained would stay in the broker's memory after its sender
 * left. An empty payload (which deletes a retained message, MQTT-3.3.1-10) is always allowed there.
 */
export function retainAllowed(limits: BrokerLimits, topic: string, payloadBytes: number): boolean {
  const parsed = parseVehicleTopic(topic);
  if (!parsed || !(limits.retainLeaves as readonly string[]).includes(parsed.leaf)) return false;
  return payloadBytes <= limits.maxRetainedBytes;
}

/**
 * A token bucket: `rate` tokens a second, at most `size` kept. `reserve` takes tokens now, running into
 * debt if it must, and says how long the caller has to wait for the debt to clear. Time is injected.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly size: number,
    private readonly now: () => number,
  ) {
    this.tokens = size;
    this.last = now();
  }

  /** Takes `cost` tokens; the milliseconds until the bucket is out of debt again (0: at once). */
  reserve(cost: number): number {
    const t = this.now();
    this.tokens = Math.min(this.size, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    this.tokens -= cost;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

/** One client's publish budget: a bucket of messages and one of bytes. */
export class ClientRate {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;

  constructor(rate: PublishRate, now: () => number) {
    this.messages = new TokenBucket(rate.messagesPerSecond, rate.messagesPerSecond * rate.burstSeconds, now);
    this.bytes = new TokenBucket(rate.bytesPerSecond, rate.bytesPerSecond * rate.burstSeconds, now);
  }

  /** Milliseconds this publish of `payloadBytes` must wait to stay within the rate. */
  reserve(payloadBytes: number): number {
    return Math.max(this.messages.reserve(1), this.bytes.reserve(payloadBytes));
  }
}

/** The parts of the mqtt-packet parser (v9) the size check relies on. */
interface ParserInternals {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Refuse packets larger than `maxPacketBytes` from the fixed header on, before their body is buffered.
 * aedes 1.x creates its mqtt-packet parser without a size limit and mqtt-packet 9 has none: we wrap the
 * parser's remaining-length step, so the parser still does all the parsing; a packet too large makes it
 * fail like any malformed packet (aedes then closes the connection). `onTooLarge` hears the size first.
 * Throws BROKER_INTERNAL if the parser is not the one this was written for (fail closed, at connect).
 */
export function capPacketSize(client: unknown, maxPacketBytes: number, onTooLarge: (bytes: number) => void): void {
  const parser = (client as { _parser?: Partial<ParserInternals> } | null)?._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function') {
    throw new BrokerError('BROKER_INTERNAL', 'the aedes client has no mqtt-packet parser to limit');
  }
  const parseLength = parser._parseLength;
  parser._parseLength = function (this: ParserInternals): boolean {
    if (!parseLength.call(this)) return false;
    const bytes = packetBytes(this.packet.length);
    if (bytes <= maxPacketBytes) return true;
    onTooLarge(bytes);
    this._emitError(new BrokerError('BROKER_PACKET_TOO_LARGE', `packet of ${bytes} bytes exceeds ${maxPacketBytes}`));
    return false;
  };
}

/** The Mosquitto options that express the same limits (what Mosquitto 2.0 can express). */
export function mosquittoLimitLines(limits: BrokerLimits): string[] {
  return [
    '# Limits (docs/operations.md "Limits"): the largest packet is a secure-channel record plus its MQTT framing.',
    `max_packet_size ${limits.maxPacketBytes}`,
    // The payload limit no lower than the packet limit implies: Mosquitto drops a message above it
    // silently (QoS flow completed), where a packet above max_packet_size disconnects like the embedded broker.
    `message_size_limit ${limits.maxPacketBytes}`,
    `max_inflight_messages ${Math.min(limits.maxInflight, 65_535)}`,
    // Per client, beyond those in flight: at most 1000 × max_packet_size (≈ 66 MB by default); no byte cap,
    // which could silently drop chunks of a large transfer window (MAX_WINDOW 1024 × 60 KiB).
    'max_queued_messages 1000',
  ];
}
