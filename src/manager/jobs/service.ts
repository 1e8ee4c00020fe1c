/**
 * Update jobs as the API and the CLI see them: create (with a dry run), list, show, cancel. Creating a
 * job checks the registry and the repository, signs an assignment with the manager key (fresh nonce,
 * expiry) and persists the job `queued`; the engine (engine.ts) takes it from there.
 *
 * The manager does not know an ECU's installed release counter, so rollback is left to the gateway and
 * the ECU bootloader (ARCHITECTURE.md §2.3); the manager refuses what it can know: an unknown vehicle,
 * ECU or firmware, a release signer the current CRL revokes (FW_REVOKED_SIGNER, also on a dry run),
 * another hardware id than the ECU reported, a second active job for one ECU.
 */
import { randomBytes } from 'node:crypto';
import { FirmwareRefusal, newAssignment, signAssignment } from '../../security/firmware/index.js';
import { ManagerError } from '../errors.js';
import type { FirmwareRecord, FirmwareRepository } from '../firmware/index.js';
import type { SessionState } from '../sessions.js';
import type { JobState, Store } from '../store/index.js';
import type { JobEngine } from './engine.js';
import { INSTALL_PHASES } from './engine.js';
import { getJobRow, insertJob, listJobRows, toJob, type Job, type LiveJob } from './records.js';
import { chooseChunkSize, chunkCount } from './transfer.js';

export const DEFAULT_JOB_TTL_MS = 24 * 3600_000;
export const MIN_JOB_TTL_MS = 60_000;
export const MAX_JOB_TTL_MS = 30 * 24 * 3600_000;

const VEHICLE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ECU_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export interface CreateJobInput {
  vehicleId: string;
  ecu: string;
  /** Firmware id (16 hex) or manifest digest (64 hex). */
  firmwareId: string;
  actor: string;
  /** Check and plan only: nothing is signed or stored. */
  dryRun?: boolean;
  /** Assignment lifetime (default the service's, 24 h). */
  ttlMs?: number;
}

/** What creating the job would do (the dry-run answer). */
export interface JobPlan {
  dryRun: true;
  vehicleId: string;
  ecu: string;
  firmware: FirmwareRecord;
  fromVersion: string | null;
  toVersion: string;
  /** The ECU's hardware id as last announced (null when it did not say). */
  ecuHardwareId: string | null;
  chunkSize: number;
  chunks: number;
  imageLength: number;
  expiresAt: string;
  /** The vehicle is online with an established session: the offer would go out at once. */
  reachable: boolean;
  /** Active jobs of other ECUs of this vehicle that would run first. */
  queuedBehind: number;
  /** Things worth knowing that do not stop the job (e.g. the ECU already runs this version). */
  notes: string[];
}

export interface JobServiceOptions {
  store: Store;
  repository: FirmwareRepository;
  engine: JobEngine;
  /** The manager key and certificate (role manager) that sign assignments. */
  signer: { keyPem: string; certPem: string };
  sessionState: (vehicleId: string) => SessionState;
  /** Default assignment lifetime (24 h). */
  ttlMs?: number;
  /** Fixed chunk size; default chooseChunkSize(image length). */
  chunkSize?: number;
  now?: () => Date;
}

/** Create, list, show and cancel update jobs. */
export class JobService {
  constructor(private readonly opts: JobServiceOptions) {}

  /** Create a job (or, with dryRun, say what it would be). See the file comment for the refusals. */
  async create(input: CreateJobInput & { dryRun: true }): Promise<JobPlan>;
  async create(input: CreateJobInput & { dryRun?: false }): Promise<Job>;
  async create(input: CreateJobInput): Promise<Job | JobPlan>;
  async create(input: CreateJobInput): Promise<Job | JobPlan> {
    const ttlMs = input.ttlMs ?? this.opts.ttlMs ?? DEFAULT_JOB_TTL_MS;
    checkInput(input, ttlMs);
    const vehicle = await this.opts.store.getVehicle(input.vehicleId);
    if (!vehicle) throw new ManagerError('VEHICLE_UNKNOWN', `no vehicle '${input.vehicleId}'`);
    const ecu = vehicle.ecus.find((e) => e.name === input.ecu);
    if (!ecu) throw new ManagerError('ECU_UNKNOWN', `vehicle '${input.vehicleId}' has announced no ECU '${input.ecu}'`);
    const { firmware, signedManifest } = await this.opts.repository.manifest(input.firmwareId);
    // The release certificate may have been revoked since the firmware was added: judge it by today's CRL.
    await this.opts.repository.checkSigner(signedManifest);
    // ARCHITECTURE §2.3: the gateway refuses a wrong hardware id too; refusing here saves the download.
    if (ecu.hardwareId !== null && ecu.hardwareId !== firmware.hardwareId) {
      throw new FirmwareRefusal('FW_WRONG_HARDWARE', `firmware ${firmware.id} is for ${firmware.hardwareId}, ECU '${ecu.name}' is ${ecu.hardwareId}`);
    }
    const active = await listJobRows(this.opts.store.db, { vehicleId: input.vehicleId, state: 'active', limit: 1000 });
    const conflict = active.find((j) => j.ecu === input.ecu);
    if (conflict) throw new ManagerError('JOB_CONFLICT', `ECU '${input.ecu}' of '${input.vehicleId}' already has the active job ${conflict.id}`);

    const now = this.opts.now?.() ?? new Date();
    const chunkSize = chooseChunkSize(firmware.length, this.opts.chunkSize);
    const chunks = chunkCount(firmware.length, chunkSize);
    const expiresAt = new Date(now.getTime() + ttlMs);
    if (input.dryRun) {
      const notes: string[] = [];
      if (ecu.appVersion === firmware.version) notes.push(`the ECU already reports version ${firmware.version}`);
      if (ecu.hardwareId === null) notes.push('the ECU reported no hardware id: the gateway checks it');
      if (!vehicle.online) notes.push('the vehicle is offline: the job waits until it connects');
      return {
        dryRun: true,
        vehicleId: vehicle.id,
        ecu: ecu.name,
        firmware,
        fromVersion: ecu.appVersion,
        toVersion: firmware.version,
        ecuHardwareId: ecu.hardwareId,
        chunkSize,
        chunks,
        imageLength: firmware.length,
        expiresAt: expiresAt.toISOString(),
        reachable: vehicle.online && this.opts.sessionState(vehicle.id) === 'established',
        queuedBehind: active.length,
        notes,
      };
    }

    const assignment = newAssignment({ vehicleId: vehicle.id, ecu: ecu.name, signedManifest, ttlMs, now });
    const signed = signAssignment(assignment, this.opts.signer);
    const at = now.toISOString();
    const job: LiveJob = {
      id: randomBytes(8).toString('hex'),
      vehicleId: vehicle.id,
      ecu: ecu.name,
      firmwareId: firmware.id,
      state: 'active',
      phase: 'queued',
      percent: 0,
      reason: null,
      fromVersion: ecu.appVersion,
      toVersion: firmware.version,
      installedVersion: null,
      nonce: assignment.nonce,
      expiresAt: assignment.expiresAt.toISOString(),
      chunkSize,
      chunks,
      imageLength: firmware.length,
      bytesSent: 0,
      chunksSent: 0,
      offers: 0,
      createdBy: input.actor,
      createdAt: at,
      updatedAt: at,
      finishedAt: null,
      assignment: Buffer.from(signed).toString('base64'),
      cancelPending: false,
    };
    try {
      await this.opts.store.db.transaction().execute(async (trx) => {
        await insertJob(trx, job);
        const detail = { vehicleId: job.vehicleId, ecu: job.ecu, firmwareId: job.firmwareId, version: job.toVersion, nonce: job.nonce, expiresAt: job.expiresAt };
        await trx.insertInto('audit_log').values({ at, actor: input.actor, action: 'job.create', target: job.id, detail: JSON.stringify(detail) }).execute();
      });
    } catch (e) {
      // The partial unique index (one active job per ECU) caught a concurrent create.
      const again = await listJobRows(this.opts.store.db, { vehicleId: input.vehicleId, state: 'active', limit: 1000 });
      if (again.some((j) => j.ecu === input.ecu)) throw new ManagerError('JOB_CONFLICT', `ECU '${input.ecu}' of '${input.vehicleId}' already has an active job`, { cause: e });
      throw e;
    }
    this.opts.engine.add(job);
    return toJob(job);
  }

  /** Jobs newest first; active ones with their live progress. */
  async list(f: { vehicleId?: string; state?: JobState; limit?: number } = {}): Promise<Job[]> {
    const rows = await listJobRows(this.opts.store.db, f);
    return rows.map((r) => this.opts.engine.view(r.id) ?? toJob(r));
  }

  /** One job: from memory while active here (cheap enough to poll), else from the database. */
  async get(id: string): Promise<Job | undefined> {
    const live = this.opts.engine.view(id);
    if (live) return live;
    const row = await getJobRow(this.opts.store.db, id);
    return row && toJob(row);
  }

  /**
   * Cancel an active job: JOB_UNKNOWN, JOB_FINISHED, or JOB_NOT_CANCELLABLE once the download is over and
   * the gateway installs the image (verifying … rebooting; it runs those to their end) unless `force`. The gateway is sent update.cancel now, or when its session next comes up.
   */
  async cancel(id: string, actor: string, opts: { force?: boolean } = {}): Promise<Job> {
    const job = this.opts.engine.liveJob(id);
    if (!job) {
      const row = await getJobRow(this.opts.store.db, id);
      if (!row) throw new ManagerError('JOB_UNKNOWN', `no job '${id}'`);
      throw new ManagerError('JOB_FINISHED', `job ${id} is already ${row.state}`);
    }
    if (INSTALL_PHASES.includes(job.phase) && !opts.force) {
      throw new ManagerError('JOB_NOT_CANCELLABLE', `job ${id} is ${job.phase}: the gateway installs to the end; cancel with force to abandon it anyway`);
    }
    // An offer may have reached the gateway (it may hold chunks or be verifying): tell it.
    const reason = { code: 'JOB_CANCELLED', message: `cancelled by ${actor}${opts.force ? ' (forced)' : ''}` };
    const result = await this.opts.engine.finish(job, 'cancelled', reason, null, { cancelPending: job.offers > 0, retry: false });
    if (result === 'not_saved') throw new ManagerError('JOB_SAVE_FAILED', `job ${id} could not be saved as cancelled: it stays active (try again)`);
    if (result === 'unchanged') throw new ManagerError('JOB_FINISHED', `job ${id} is already ${job.state === 'active' ? 'ending' : job.state}`);
    if (job.cancelPending) await this.opts.engine.sendCancel(job);
    return toJob(job);
  }
}

function checkInput(input: CreateJobInput, ttlMs: number): void {
  const bad = (m: string): never => {
    throw new ManagerError('MGR_BAD_INPUT', m);
  };
  // The assignment's alphabets (src/security/firmware/assignment.ts).
  if (typeof input.vehicleId !== 'string' || !VEHICLE_ID.test(input.vehicleId)) bad('vehicle must be 1-64 of A-Z a-z 0-9 . _ -');
  if (typeof input.ecu !== 'string' || !ECU_NAME.test(input.ecu)) bad('ecu must be 1-32 of A-Z a-z 0-9 . _ -');
  if (typeof input.firmwareId !== 'string' || !/^([0-9a-fA-F]{16}|[0-9a-fA-F]{64})$/.test(input.firmwareId)) bad('firmware must be a 16-hex-digit id or a 64-hex-digit manifest digest');
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_JOB_TTL_MS || ttlMs > MAX_JOB_TTL_MS) bad(`ttl must be ${MIN_JOB_TTL_MS}..${MAX_JOB_TTL_MS} ms`);
  if (typeof input.actor !== 'string' || input.actor.length === 0 || input.actor.length > 128) bad('actor must be 1..128 characters');
}
