/** JSON schemas of the firmware and job routes (a mismatch is 400 BAD_REQUEST). */
import { IMAGE_FORMATS } from '../../protocol/firmware/index.js';
import { SIGNED_MANIFEST_MAX_BYTES } from '../../security/firmware/index.js';
import { JOB_STATES, MAX_JOB_TTL_MS, MIN_JOB_TTL_MS } from '../jobs/index.js';
import type { JobState } from '../store/index.js';
import { vehicleParamsSchema } from './schemas.js';

/** Pattern of `?limit=1..1000`. */
const LIMIT = { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$' } as const;

export interface FirmwareBody {
  /** The image file, base64. */
  image: string;
  format?: string;
  base?: number;
  /** The signed manifest, base64. */
  manifest: string;
}

export const firmwareBodySchema = {
  type: 'object',
  required: ['image', 'manifest'],
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 4 },
    format: { type: 'string', enum: [...IMAGE_FORMATS] },
    base: { type: 'integer', minimum: 0, maximum: 0xffff_ffff },
    manifest: { type: 'string', minLength: 4, maxLength: Math.ceil(SIGNED_MANIFEST_MAX_BYTES / 3) * 4 },
  },
} as const;

export interface FirmwareListQuery {
  hardware?: string;
  limit?: string;
}

export const firmwareListQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { hardware: { type: 'string', minLength: 1, maxLength: 32 }, limit: LIMIT },
} as const;

export interface IdParams {
  id: string;
}

/** A firmware id (16 hex digits) or a full manifest digest (64). */
export const firmwareParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^([0-9a-fA-F]{16}|[0-9a-fA-F]{64})$' } },
} as const;

export const jobParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{16}$' } },
} as const;

export interface JobBody {
  vehicle: string;
  ecu: string;
  firmware: string;
  dryRun?: boolean;
  /** Assignment lifetime in seconds (default 86400). */
  ttlS?: number;
}

export const jobBodySchema = {
  type: 'object',
  required: ['vehicle', 'ecu', 'firmware'],
  additionalProperties: false,
  properties: {
    vehicle: vehicleParamsSchema.properties.id,
    ecu: { type: 'string', minLength: 1, maxLength: 32 },
    firmware: firmwareParamsSchema.properties.id,
    dryRun: { type: 'boolean' },
    ttlS: { type: 'integer', minimum: MIN_JOB_TTL_MS / 1000, maximum: MAX_JOB_TTL_MS / 1000 },
  },
} as const;

export interface JobListQuery {
  vehicle?: string;
  state?: JobState;
  limit?: string;
}

export const jobListQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { vehicle: vehicleParamsSchema.properties.id, state: { type: 'string', enum: [...JOB_STATES] }, limit: LIMIT },
} as const;

export interface CancelBody {
  force?: boolean;
}

/** Optional body of POST /jobs/:id/cancel. */
export const cancelBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { force: { type: 'boolean' } },
} as const;
