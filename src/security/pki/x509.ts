/**
 * @peculiar/x509, configured once for the whole project: Node's WebCrypto as the crypto provider.
 * Import `x509` from here (never from '@peculiar/x509' directly) so the provider and the metadata
 * polyfill its DI container (tsyringe) needs are always installed first.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** ECDSA P-256 with SHA-256: the only algorithm of the fleet PKI (ARCHITECTURE.md §2.1). */
export const EC_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
