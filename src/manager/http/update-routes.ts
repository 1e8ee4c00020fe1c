/**
 * The firmware repository and update job routes of the HTTP API (reference: src/manager/README.md).
 * JSON only; byte strings (image file, signed manifest) are base64. Only POST /firmware accepts a large
 * body (FIRMWARE_BODY_LIMIT); every other route keeps the server's limit.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ImageFormat } from '../../protocol/firmware/index.js';
import { ManagerError } from '../errors.js';
import type { AddFirmwareInput, FirmwareRecord } from '../firmware/index.js';
import type { CreateJobInput, Job, JobPlan } from '../jobs/index.js';
import type { JobState } from '../store/index.js';
import {
  cancelBodySchema,
  firmwareBodySchema,
  firmwareListQuerySchema,
  firmwareParamsSchema,
  jobBodySchema,
  jobListQuerySchema,
  jobParamsSchema,
  type CancelBody,
  type FirmwareBody,
  type FirmwareListQuery,
  type IdParams,
  type JobBody,
  type JobListQuery,
} from './update-schemas.js';

/** Largest POST /firmware body: a 16 MiB image as Intel HEX (16-byte records, ≈ 2.75×) in base64, with room. */
export const FIRMWARE_BODY_LIMIT = 64 * 1024 * 1024;

/** What the update routes call; the manager wires them to its repository and job service. */
export interface UpdateHandlers {
  addFirmware(input: AddFirmwareInput): Promise<{ firmware: FirmwareRecord; created: boolean }>;
  listFirmware(opts: { hardwareId?: string; limit?: number }): Promise<FirmwareRecord[]>;
  getFirmware(id: string): Promise<FirmwareRecord | undefined>;
  /** The signed manifest bytes; FIRMWARE_UNKNOWN when absent. */
  firmwareManifest(id: string): Promise<Uint8Array>;
  createJob(input: CreateJobInput): Promise<Job | JobPlan>;
  listJobs(opts: { vehicleId?: string; state?: JobState; limit?: number }): Promise<Job[]>;
  getJob(id: string): Promise<Job | undefined>;
  cancelJob(id: string, actor: string, opts: { force?: boolean }): Promise<Job>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (padding required, no whitespace) → bytes; MGR_BAD_INPUT otherwise. */
function base64Field(value: string, what: string): Uint8Array {
  if (value.length === 0 || value.length % 4 !== 0 || !BASE64.test(value)) throw new ManagerError('MGR_BAD_INPUT', `${what} is not base64`);
  const buf = Buffer.from(value, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Add the /firmware and /jobs routes to `app`. */
export function registerUpdateRoutes(app: FastifyInstance, prefix: string, h: UpdateHandlers, actorOf: (req: FastifyRequest) => string): void {
  app.post<{ Body: FirmwareBody }>(
    `${prefix}/firmware`,
    { bodyLimit: FIRMWARE_BODY_LIMIT, schema: { body: firmwareBodySchema } },
    async (req, reply) => {
      const input: AddFirmwareInput = {
        image: base64Field(req.body.image, 'image'),
        signedManifest: base64Field(req.body.manifest, 'manifest'),
        actor: actorOf(req),
        ...(req.body.format === undefined ? {} : { format: req.body.format as ImageFormat }),
        ...(req.body.base === undefined ? {} : { base: req.body.base }),
      };
      const { firmware, created } = await h.addFirmware(input);
      return reply.code(created ? 201 : 200).send(firmware);
    },
  );

  app.get<{ Querystring: FirmwareListQuery }>(`${prefix}/firmware`, { schema: { querystring: firmwareListQuerySchema } }, async (req) => ({
    firmware: await h.listFirmware({
      ...(req.query.hardware === undefined ? {} : { hardwareId: req.query.hardware }),
      ...(req.query.limit === undefined ? {} : { limit: Number(req.query.limit) }),
    }),
  }));

  app.get<{ Params: IdParams }>(`${prefix}/firmware/:id`, { schema: { params: firmwareParamsSchema } }, async (req) => {
    const fw = await h.getFirmware(req.params.id);
    if (fw === undefined) throw new ManagerError('FIRMWARE_UNKNOWN', `no firmware '${req.params.id}'`);
    return fw;
  });

  app.get<{ Params: IdParams }>(`${prefix}/firmware/:id/manifest`, { schema: { params: firmwareParamsSchema } }, async (req, reply) => {
    const bytes = await h.firmwareManifest(req.params.id);
    return reply.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.post<{ Body: JobBody }>(`${prefix}/jobs`, { schema: { body: jobBodySchema } }, async (req, reply) => {
    const result = await h.createJob({
      vehicleId: req.body.vehicle,
      ecu: req.body.ecu,
      firmwareId: req.body.firmware,
      actor: actorOf(req),
      ...(req.body.dryRun === undefined ? {} : { dryRun: req.body.dryRun }),
      ...(req.body.ttlS === undefined ? {} : { ttlMs: req.body.ttlS * 1000 }),
    });
    return reply.code('dryRun' in result ? 200 : 201).send(result);
  });

  app.get<{ Querystring: JobListQuery }>(`${prefix}/jobs`, { schema: { querystring: jobListQuerySchema } }, async (req) => ({
    jobs: await h.listJobs({
      ...(req.query.vehicle === undefined ? {} : { vehicleId: req.query.vehicle }),
      ...(req.query.state === undefined ? {} : { state: req.query.state }),
      ...(req.query.limit === undefined ? {} : { limit: Number(req.query.limit) }),
    }),
  }));

  app.get<{ Params: IdParams }>(`${prefix}/jobs/:id`, { schema: { params: jobParamsSchema } }, async (req) => {
    const job = await h.getJob(req.params.id);
    if (job === undefined) throw new ManagerError('JOB_UNKNOWN', `no job '${req.params.id}'`);
    return job;
  });

  app.post<{ Params: IdParams; Body: CancelBody | undefined }>(
    `${prefix}/jobs/:id/cancel`,
    {
      schema: { params: jobParamsSchema, body: cancelBodySchema },
      // The body is optional: a bare POST is a plain cancel.
      preValidation: async (req) => {
        req.body ??= {};
      },
    },
    async (req) => h.cancelJob(req.params.id, actorOf(req), req.body?.force === true ? { force: true } : {}),
  );
}
