/**
 * The firmware repository and update job calls of the manager's HTTP API (src/manager/README.md,
 * "Firmware repository" and "Update jobs"), typed, over the CLI's ApiClient.
 */
import { createHash } from 'node:crypto';
import type { FirmwareRecord, Job, JobPlan } from '../../manager/index.js';
import type { ImageFormat } from '../../protocol/firmware/index.js';
import { ApiError, type ApiClient } from '../api-client.js';

/** POST /firmware carries the whole image (base64): give it time. */
const UPLOAD_TIMEOUT_MS = 60_000;
export const JOB_LIST_STATES = ['active', 'done', 'failed', 'cancelled'] as const;
export type JobListState = (typeof JOB_LIST_STATES)[number];

/** A 16-hex firmware id or a 64-hex manifest digest. */
export function isFirmwareRef(value: string): boolean {
  return /^([0-9a-f]{16}|[0-9a-f]{64})$/i.test(value);
}

/** A 16-hex job id. */
export function isJobId(value: string): boolean {
  return /^[0-9a-f]{16}$/.test(value);
}

/** The firmware a reference names, or undefined when the repository has none. */
export async function findFirmware(client: ApiClient, ref: string): Promise<FirmwareRecord | undefined> {
  try {
    return await client.request<FirmwareRecord>('GET', `/firmware/${ref}`);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'FIRMWARE_UNKNOWN') return undefined;
    throw e;
  }
}

/**
 * Uploads an image file and its signed manifest. `created` is false when the repository already held this
 * signed manifest (its digest, SHA-256 of the manifest file, is looked up first).
 */
export async function addFirmware(
  client: ApiClient,
  upload: { image: Uint8Array; manifest: Uint8Array; base?: number; format?: ImageFormat },
): Promise<{ firmware: FirmwareRecord; created: boolean }> {
  const digest = createHash('sha256').update(upload.manifest).digest('hex');
  const before = await findFirmware(client, digest);
  const body = {
    image: Buffer.from(upload.image).toString('base64'),
    manifest: Buffer.from(upload.manifest).toString('base64'),
    ...(upload.base === undefined ? {} : { base: upload.base }),
    ...(upload.format === undefined ? {} : { format: upload.format }),
  };
  const firmware = await client.request<FirmwareRecord>('POST', '/firmware', body, UPLOAD_TIMEOUT_MS);
  return { firmware, created: before === undefined };
}

export async function listFirmware(client: ApiClient, opts: { hardware?: string; limit?: number } = {}): Promise<FirmwareRecord[]> {
  const q = new URLSearchParams();
  if (opts.hardware !== undefined) q.set('hardware', opts.hardware);
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const query = q.size > 0 ? `?${q.toString()}` : '';
  return (await client.request<{ firmware: FirmwareRecord[] }>('GET', `/firmware${query}`)).firmware;
}

export interface CreateJobRequest {
  vehicle: string;
  ecu: string;
  firmware: string;
  ttlS?: number;
}

export function createJob(client: ApiClient, req: CreateJobRequest): Promise<Job> {
  return client.request<Job>('POST', '/jobs', req);
}

export function planJob(client: ApiClient, req: CreateJobRequest): Promise<JobPlan> {
  return client.request<JobPlan>('POST', '/jobs', { ...req, dryRun: true });
}

export function getJob(client: ApiClient, id: string): Promise<Job> {
  return client.request<Job>('GET', `/jobs/${id}`);
}

export async function listJobs(client: ApiClient, f: { vehicle?: string; state?: JobListState; limit?: number } = {}): Promise<Job[]> {
  const q = new URLSearchParams();
  if (f.vehicle !== undefined) q.set('vehicle', f.vehicle);
  if (f.state !== undefined) q.set('state', f.state);
  if (f.limit !== undefined) q.set('limit', String(f.limit));
  const query = q.size > 0 ? `?${q.toString()}` : '';
  return (await client.request<{ jobs: Job[] }>('GET', `/jobs${query}`)).jobs;
}

export function cancelJob(client: ApiClient, id: string, force: boolean): Promise<Job> {
  return client.request<Job>('POST', `/jobs/${id}/cancel`, force ? { force: true } : {});
}
