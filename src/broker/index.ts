/** The embedded MQTT broker, its certificate and ACL enforcement, and the equivalent Mosquitto configuration. */
export { startBroker, type Broker, type BrokerOptions, type BrokerTls } from './server.js';
export { BROKER_CERT_NAME, BROKER_DEFAULT_SANS, ensureBrokerCertificate } from './broker-cert.js';
export { BROKER_CODES, BrokerError, type BrokerCode } from './errors.js';
export { checkConnect, identifyClient, type BrokerStats, type Principal } from './policy.js';
export { directoryTrust, staticTrust, type TrustSnapshot, type TrustSource } from './trust.js';
export {
  capPacketSize,
  DEFAULT_BROKER_LIMITS,
  MAX_RECORD_BYTES,
  resolveLimits,
  retainAllowed,
  type BrokerLimits,
  type PublishRate,
} from './limits.js';
export { mosquittoAcl, mosquittoConf, writeMosquittoConfig, type MosquittoConfig, type MosquittoConfigOptions } from './mosquitto.js';
