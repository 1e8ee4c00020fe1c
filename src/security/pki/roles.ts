/**
 * The four roles of the fleet PKI and how a certificate states its role (ARCHITECTURE.md §2.1).
 *
 * A leaf certificate carries exactly one role policy OID in certificatePolicies (RFC 5280 §4.2.1.4)
 * and the matching extended key usage (RFC 5280 §4.2.1.12). Verifiers require both.
 *
 * | role      | certificate policy OID        | extended key usage           | subject CN        |
 * |-----------|-------------------------------|------------------------------|-------------------|
 * | broker    | 1.3.6.1.4.1.99999.7001.1.1    | serverAuth 1.3.6.1.5.5.7.3.1 | host name         |
 * | manager   | 1.3.6.1.4.1.99999.7001.1.2    | clientAuth 1.3.6.1.5.5.7.3.2 | manager name      |
 * | vehicle   | 1.3.6.1.4.1.99999.7001.1.3    | clientAuth 1.3.6.1.5.5.7.3.2 | the vehicle id    |
 * | release   | 1.3.6.1.4.1.99999.7001.1.4    | codeSigning 1.3.6.1.5.5.7.3.3| release key name  |
 *
 * The arc 1.3.6.1.4.1.99999.7001 is a PLACEHOLDER shaped like a private enterprise number; it is not
 * registered with IANA. An OEM deploying this replaces 99999 with its own PEN (one constant below).
 */
export type Role = 'broker' | 'manager' | 'vehicle' | 'release';

export const ROLES = ['broker', 'manager', 'vehicle', 'release'] as const satisfies readonly Role[];

/** The private arc under which the role policy OIDs live (placeholder, see the table above). */
export const OTA_OID_ARC = '1.3.6.1.4.1.99999.7001';

/** Certificate policy OID that names each role. */
export const ROLE_POLICY_OID = {
  broker: `${OTA_OID_ARC}.1.1`,
  manager: `${OTA_OID_ARC}.1.2`,
  vehicle: `${OTA_OID_ARC}.1.3`,
  release: `${OTA_OID_ARC}.1.4`,
} as const satisfies Record<Role, string>;

/** RFC 5280 §4.2.1.12 key purpose ids. */
export const EKU_OID = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
} as const;

/** The extended key usage each role's certificate carries (and a verifier demands). */
export const ROLE_EKU = {
  broker: EKU_OID.serverAuth,
  manager: EKU_OID.clientAuth,
  vehicle: EKU_OID.clientAuth,
  release: EKU_OID.codeSigning,
} as const satisfies Record<Role, string>;

/** True when `s` is one of the four roles. */
export function isRole(s: unknown): s is Role {
  return typeof s === 'string' && (ROLES as readonly string[]).includes(s);
}

/** The role whose policy OID is `oid`, if any. */
export function roleForPolicy(oid: string): Role | undefined {
  return ROLES.find((r) => ROLE_POLICY_OID[r] === oid);
}
