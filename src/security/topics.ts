/**
 * The MQTT topic namespace (ARCHITECTURE.md §3) and the authorization rule that confines each vehicle
 * to its own topics (§2.1). The embedded broker enforces `authorize()`; the Mosquitto configuration
 * written by `ota broker mosquitto-config` expresses the same rule as a pattern ACL; gateway and manager
 * build their topics here so the three can never disagree.
 *
 *   ota/v1/<V>/status     uplink, retained: presence (`online` / `offline`, the latter also the last will)
 *   ota/v1/<V>/up/hs      uplink: secure-channel handshake (ClientHello, Finished)
 *   ota/v1/<V>/up/rec     uplink: secure-channel records
 *   ota/v1/<V>/down/hs    downlink: secure-channel handshake (ServerHello, HelloRequest)
 *   ota/v1/<V>/down/rec   downlink: secure-channel records
 */

export const TOPIC_ROOT = 'ota/v1';

/** Uplink leaves the vehicle, downlink goes to it. */
export const UPLINK = ['status', 'up/hs', 'up/rec'] as const;
export const DOWNLINK = ['down/hs', 'down/rec'] as const;
export type UplinkLeaf = (typeof UPLINK)[number];
export type DownlinkLeaf = (typeof DOWNLINK)[number];

/** A vehicle id as a topic level: non-empty, no MQTT wildcards or separators, at most 64 characters. */
export function isTopicSafeId(id: string): boolean {
  return id.length > 0 && id.length <= 64 && !/[/#+]/.test(id) && !id.includes('\u0000') && !id.startsWith('$');
}

export function vehicleTopic(vehicleId: string, leaf: UplinkLeaf | DownlinkLeaf): string {
  return `${TOPIC_ROOT}/${vehicleId}/${leaf}`;
}

/** Split `ota/v1/<V>/<leaf>` into its vehicle id and leaf, or undefined for any other topic. */
export function parseVehicleTopic(topic: string): { vehicleId: string; leaf: UplinkLeaf | DownlinkLeaf } | undefined {
  const prefix = TOPIC_ROOT + '/';
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const vehicleId = rest.slice(0, slash);
  const leaf = rest.slice(slash + 1);
  if (!isTopicSafeId(vehicleId)) return undefined;
  if ((UPLINK as readonly string[]).includes(leaf) || (DOWNLINK as readonly string[]).includes(leaf)) {
    return { vehicleId, leaf: leaf as UplinkLeaf | DownlinkLeaf };
  }
  return undefined;
}

/** Who is asking: the role and CN from the client's verified certificate. */
export interface TopicPrincipal {
  role: 'manager' | 'vehicle' | 'broker' | 'release';
  cn: string;
}

/**
 * May `who` publish to (`publish`) or subscribe to (`subscribe`) `topic` (a filter, for subscribe)?
 * A manager may do anything under `ota/v1/` (and subscribe to a shared subscription of such a filter);
 * a vehicle may publish only its own uplink topics and subscribe only to its own downlink topics (no
 * wildcards); nobody else may do anything.
 */
export function authorize(who: TopicPrincipal, action: 'publish' | 'subscribe', topic: string): boolean {
  if (who.role === 'manager') return managerMay(action, topic);
  if (who.role !== 'vehicle' || !isTopicSafeId(who.cn)) return false;
  const parsed = parseVehicleTopic(topic);
  if (!parsed || parsed.vehicleId !== who.cn) return false;
  const allowed: readonly string[] = action === 'publish' ? UPLINK : DOWNLINK;
  return allowed.includes(parsed.leaf);
}

const SHARE_PREFIX = '$share/';

function managerMay(action: 'publish' | 'subscribe', topic: string): boolean {
  let filter = topic;
  if (topic.startsWith(SHARE_PREFIX)) {
    // MQTT 5 §4.8.2: `$share/{ShareName}/{filter}` exists only as a subscription; the share name is one
    // level without wildcards, and the filter after it must itself stay under ota/v1/ (a bare `$share/`
    // prefix once let a manager subscribe to anything, `$share/g/#` or `$share/g/$SYS/#`).
    if (action !== 'subscribe') return false;
    const rest = topic.slice(SHARE_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || /[#+]/.test(rest.slice(0, slash))) return false;
    filter = rest.slice(slash + 1);
  }
  return filter === TOPIC_ROOT || filter.startsWith(TOPIC_ROOT + '/');
}
