/**
 * The manager's HTTP API (Fastify), JSON under /api/v1, bearer-token protected except /health (which
 * answers only `{ status }` without the token).
 * The full reference (routes, bodies, status codes) is in src/manager/README.md.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { parseHex } from '../../protocol/hex.js';
import type { DiagnoseRequest, DiagResult } from '../diagnostics.js';
import { ManagerError } from '../errors.js';
import { errorFields, type ManagerLog } from '../log.js';
import type { AuditEntry, DiagLogEntry } from '../store/index.js';
import { registerDashboard } from './dashboard.js';
import { httpError } from './errors.js';
import type { ApiTls } from './tls.js';
import { bearerToken, tokenMatches } from './token.js';
import { registerUpdateRoutes, type UpdateHandlers } from './update-routes.js';
import { diagBodySchema, listQuerySchema, vehicleParamsSchema, type DiagBody, type ListQuery, type VehicleParams } from './schemas.js';

export const API_PREFIX = '/api/v1';

/** What the routes call; the manager wires these to its store, sessions, diagnostics, repository and jobs. */
export interface ApiHandlers extends UpdateHandlers {
  /** `{ status, … }`: everything for a caller with the token, only `status` for anyone else. */
  health(): { status: string } & Record<string, unknown>;
  vehicles(): Promise<unknown[]>;
  /** undefined → 404 VEHICLE_UNKNOWN. */
  vehicle(id: string): Promise<unknown>;
  /** Approve a vehicle held pending; VEHICLE_UNKNOWN when absent. */
  approveVehicle(id: string, actor: string): Promise<unknown>;
  diagnose(req: DiagnoseRequest): Promise<DiagResult>;
  diagLog(opts: { vehicleId?: string; limit?: number }): Promise<DiagLogEntry[]>;
  auditLog(opts: { limit?: number }): Promise<AuditEntry[]>;
  stats(): Promise<object>;
}

export interface ApiOptions {
  host: string;
  /** 0 → an ephemeral port. */
  port: number;
  token: string;
  handlers: ApiHandlers;
  log: ManagerLog;
  /** Serve HTTPS with this certificate (http/tls.ts decides when); default plain HTTP. */
  tls?: ApiTls;
}

/** A listening API server. `url` uses the bound address and port (127.0.0.1 when bound to any). */
export interface ApiServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

const ACTOR_FORM = /^[\x21-\x7e][\x20-\x7e]{0,63}$/;

/** Who the caller says they are (`X-OTA-Actor`, informational: the token is shared), as `api` or `api:<name>`. */
function actorOf(req: FastifyRequest): string {
  const h = req.headers['x-ota-actor'];
  return typeof h === 'string' && ACTOR_FORM.test(h) ? `api:${h}` : 'api';
}

function buildApp(opts: ApiOptions): FastifyInstance {
  const app = Fastify({
    ...(opts.tls === undefined ? {} : { https: { cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' as const } }),
    logger: false,
    bodyLimit: 512 * 1024,
    // No type coercion and no silent dropping: a body either matches its schema or is a 400.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
  });
  const h = opts.handlers;
  registerDashboard(app); // web/dist at / without the token; must precede the token check below

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method === 'GET' && req.routeOptions.url === `${API_PREFIX}/health`) return;
    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined || !tokenMatches(opts.token, presented)) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="ota-manager"')
        .send({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required (see <data>/manager/api-token)' } });
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = httpError(err);
    if (status >= 500 && status !== 503 && status !== 504 && status !== 502) opts.log('error', 'api.error', { method: req.method, url: req.url, ...errorFields(err) });
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  // Without a valid token /health answers only { status }: version, broker address and uptime help an
  // attacker choose an exploit and a target, and a load balancer's probe needs none of them.
  app.get(`${API_PREFIX}/health`, (req) => {
    const full = h.health();
    const presented = bearerToken(req.headers.authorization);
    return presented !== undefined && tokenMatches(opts.token, presented) ? full : { status: full.status };
  });

  app.get(`${API_PREFIX}/vehicles`, async () => ({ vehicles: await h.vehicles() }));

  app.get<{ Params: VehicleParams }>(`${API_PREFIX}/vehicles/:id`, { schema: { params: vehicleParamsSchema } }, async (req) => {
    const v = await h.vehicle(req.params.id);
    if (v === undefined) throw new ManagerError('VEHICLE_UNKNOWN', `no vehicle '${req.params.id}'`);
    return v;
  });

  app.post<{ Params: VehicleParams }>(`${API_PREFIX}/vehicles/:id/approve`, { schema: { params: vehicleParamsSchema } }, (req) =>
    h.approveVehicle(req.params.id, actorOf(req)),
  );

  app.post<{ Params: VehicleParams; Body: DiagBody }>(
    `${API_PREFIX}/vehicles/:id/diag`,
    { schema: { params: vehicleParamsSchema, body: diagBodySchema } },
    async (req) => {
      const request = parseHex(req.body.request);
      return h.diagnose({
        vehicleId: req.params.id,
        ecu: req.body.ecu,
        request,
        ...(req.body.timeoutMs === undefined ? {} : { timeoutMs: req.body.timeoutMs }),
        actor: actorOf(req),
      });
    },
  );

  app.get<{ Querystring: ListQuery }>(`${API_PREFIX}/diag-log`, { schema: { querystring: listQuerySchema(true) } }, async (req) => ({
    entries: await h.diagLog({
      ...(req.query.vehicle === undefined ? {} : { vehicleId: req.query.vehicle }),
      ...(req.query.limit === undefined ? {} : { limit: Number(req.query.limit) }),
    }),
  }));

  app.get<{ Querystring: ListQuery }>(`${API_PREFIX}/audit-log`, { schema: { querystring: listQuerySchema(false) } }, async (req) => ({
    entries: await h.auditLog(req.query.limit === undefined ? {} : { limit: Number(req.query.limit) }),
  }));

  app.get(`${API_PREFIX}/stats`, () => h.stats());
  registerUpdateRoutes(app, API_PREFIX, h, actorOf);
  return app;
}

/** Start the API on host:port; resolves once listening. */
export async function startApi(opts: ApiOptions): Promise<ApiServer> {
  const app = buildApp(opts);
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address() as AddressInfo;
  const shown = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  const url = `${opts.tls === undefined ? 'http' : 'https'}://${shown.includes(':') ? `[${shown}]` : shown}:${addr.port}`;
  return { url, host: addr.address, port: addr.port, close: () => app.close() };
}
