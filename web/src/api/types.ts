/**
 * The manager's HTTP API shapes as the dashboard reads them (reference: src/manager/README.md). Written
 * out here on purpose: the dashboard talks to the manager only over HTTP and imports nothing of ours
 * (ARCHITECTURE §6), so these are the documented JSON, not the server's types.
 */

/** GET /health: `status` for anyone; the rest only with a valid token. */
export interface Health {
  status: string;
  version?: string;
  broker?: { url: string; connected: boolean };
  uptimeS?: number;
}

export interface Ecu {
  name: string;
  link: string;
  address: string;
  appVersion: string | null;
  bootVersion: string | null;
  mode: string;
  serial: string | null;
  hardwareId: string | null;
  updatedAt: string;
}

export type SessionState = 'established' | 'handshaking' | 'none';

export interface Vehicle {
  id: string;
  online: boolean;
  session: SessionState;
  reachable: boolean;
  firstSeen: string;
  lastSeen: string;
  statusAt: string | null;
  gateway: { version: string | null; suites: string[] };
  channelSuite: string | null;
  /** `pending`: a valid certificate the fleet registry did not know; no session until `ota vehicle approve`. */
  approval?: 'approved' | 'pending';
  ecus: Ecu[];
}

export interface DiagResult {
  id: string;
  logId: number;
  vehicleId: string;
  ecu: string;
  request: string;
  response: string | null;
  positive: boolean;
  nrc?: { code: number; hex: string; name: string };
  /** describeUds of the response: a JSON object naming the service and its fields. */
  decoded: unknown;
  decodeError?: { code: string; message: string };
  pending: number;
  elapsedMs: number;
  roundTripMs: number;
}

export type DiagOutcome = 'positive' | 'negative' | 'timeout' | 'error';

export interface DiagLogEntry {
  id: number;
  at: string;
  actor: string;
  vehicleId: string;
  ecu: string;
  request: string;
  response: string | null;
  outcome: DiagOutcome;
  nrc: number | null;
  errorCode: string | null;
  elapsedMs: number | null;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

export interface Stats {
  refused: Record<string, number>;
  refusedTotal: number;
  handshakes: { started: number; established: number };
  records: { opened: number; sealed: number };
  helloRequests: number;
  broker: { connected: boolean; connects: number; disconnects: number };
  diag: { sent: number; positive: number; negative: number; timeout: number; error: number; inFlight: number };
  vehicles: { known: number; online: number; connected: number };
  jobs?: { active: number; running: number; offers: number; chunksSent: number; bytesSent: number; chunksLost: number; stalls: number; watchdogReoffers?: number; watchdogFailed?: number };
  uptimeS: number;
}

export interface Firmware {
  id: string;
  manifestDigest: string;
  hardwareId: string;
  version: string;
  counter: number;
  length: number;
  sha256: string;
  loadAddress: number;
  format: string;
  signer: { cn: string; serial: string };
  /** The release certificate is in the fleet's current CRL: no new job may use it. */
  revoked?: boolean;
  addedAt: string;
  addedBy: string;
}

export type JobState = 'active' | 'done' | 'failed' | 'cancelled';
export type JobPhase = 'queued' | 'downloading' | 'verifying' | 'erasing' | 'programming' | 'checking' | 'rebooting' | 'done' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  vehicleId: string;
  ecu: string;
  firmwareId: string;
  state: JobState;
  phase: JobPhase;
  percent: number;
  reason: { code: string; message: string } | null;
  fromVersion: string | null;
  toVersion: string;
  installedVersion: string | null;
  expiresAt: string;
  chunkSize: number;
  chunks: number;
  imageLength: number;
  bytesSent: number;
  chunksSent: number;
  offers: number;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  transfer: { stage: string; heldChunks: number; inFlight: number; window: number } | null;
}

export interface JobPlan {
  dryRun: true;
  vehicleId: string;
  ecu: string;
  firmware: Firmware;
  fromVersion: string | null;
  toVersion: string;
  ecuHardwareId: string | null;
  chunkSize: number;
  chunks: number;
  imageLength: number;
  expiresAt: string;
  reachable: boolean;
  queuedBehind: number;
  notes: string[];
}
