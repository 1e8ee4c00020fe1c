/**
 * The OEM service as one object: store, broker link, secure-channel sessions, diagnostics, firmware
 * repository, update jobs and the HTTP API, started together by createManager() and stopped by close(). The CLI (`ota manager`, `ota up`)
 * is the only caller that wires it to anything else.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../platform/atomic-write.js';
import type { SuiteName } from '../security/channel/index.js';
import { listPki, loadIssued, loadTrustStore, normalizeSerial, watchTrustDir, type LiveTrust, type VerifiedIdentity } from '../security/pki/index.js';
import { TOPIC_ROOT } from '../security/topics.js';
import { Diagnostics, type DiagnoseRequest, type DiagResult } from './diagnostics.js';
import { ManagerError } from './errors.js';
import { BlobStore, FirmwareRepository } from './firmware/index.js';
import { JobEngine, JobService, type JobEngineStats } from './jobs/index.js';
import { startApi, type ApiServer } from './http/server.js';
import { openApiToken } from './http/token.js';
import { apiTlsFor, isLoopbackHost } from './http/tls.js';
import { openEcuSecretStore, type EcuSecretStore } from './ecu-secrets.js';
import { BrokerLink } from './link.js';
import { errorFields, stderrLog, type ManagerLog } from './log.js';
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_BROKER_URL, managerPaths, type ManagerPaths } from './paths.js';
import { VehicleSessions, type SessionState } from './sessions.js';
import { newCounters, Refusals, type ManagerCounters } from './stats.js';
import { openSqliteStore, setAsideSqliteFile, type EcuRecord, type Store, type VehicleRecord } from './store/index.js';

export const MANAGER_VERSION = '0.1.0';

export interface ManagerOptions {
  dataDir: string;
  /** Default mqtts://127.0.0.1:8883. */
  brokerUrl?: string;
  /**
   * Default 127.0.0.1:8080; port 0 picks an ephemeral port (see Manager.apiUrl). A non-loopback host gets
   * HTTPS with `<pki>/api.pem` (http/tls.ts), or plain HTTP only with `insecureHttp`.
   */
  http?: { host?: string; port?: number; insecureHttp?: boolean };
  log?: ManagerLog;
  /** The PKI directory and the manager certificate's name in it (default `<data>/pki`, `manager`). */
  pki?: { dir?: string; name?: string };
  /** Suites accepted for the secure channel, most preferred first. */
  suites?: readonly SuiteName[];
  /** Minimum time between two HelloRequests to one vehicle (default 2000 ms). */
  helloRequestIntervalMs?: number;
  /** Ceiling of the per-vehicle HelloRequest interval, which doubles while they go unanswered (default 60 000 ms). */
  helloRequestMaxIntervalMs?: number;
  /** Broker reconnect backoff (default 500 ms doubling to 30 s). */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** Write `<data>/manager.json` while running (default true). */
  announceFile?: boolean;
  /**
   * Start with a new empty database: an existing `<data>/manager/ota.db` (damaged, or whose history is
   * to be dropped) is kept beside it as `ota.db.reset-<time>`. Without it, a missing, empty or damaged
   * database where a manager ran before fails the start (MGR_DB_MISSING, MGR_DB_CORRUPT).
   */
  resetDatabase?: boolean;
  /** Update jobs: assignment lifetime (24 h), fixed chunk size (default by image size), timers. */
  jobs?: { ttlMs?: number; chunkSize?: number; offerTimeoutMs?: number; ackTimeoutMs?: number; flushIntervalMs?: number; announceWaitMs?: number; stallTimeoutMs?: number; stallReoffers?: number; adaptiveWindow?: boolean };
}

/** A vehicle as the API shows it: registry facts, presence, and this manager's session with it. */
export interface VehicleView {
  id: string;
  online: boolean;
  session: SessionState;
  /** online and a session is established: diagnostics can reach it now. */
  reachable: boolean;
  firstSeen: string;
  lastSeen: string;
  statusAt: string | null;
  gateway: { version: string | null; suites: string[] };
  channelSuite: string | null;
  /** `pending`: the certificate is valid but an admin has not approved the vehicle (no session until then). */
  approval: 'approved' | 'pending';
  ecus: EcuRecord[];
}

export interface ManagerStats extends ManagerCounters {
  vehicles: { known: number; online: number; connected: number };
  jobs: JobEngineStats;
  uptimeS: number;
}

export interface Manager {
  readonly paths: ManagerPaths;
  /** The API base URL, e.g. http://127.0.0.1:8080 (routes under /api/v1). */
  readonly apiUrl: string;
  readonly apiAddress: { host: string; port: number };
  readonly brokerUrl: string;
  readonly store: Store;
  /** The firmware repository (add, list, show). */
  readonly firmware: FirmwareRepository;
  /** Update jobs (create, list, show, cancel). */
  readonly jobs: JobService;
  /** ECU SecurityAccess secrets by vehicle and ECU (`<data>/manager/ecu-secrets.json`, encrypted at rest). */
  readonly ecuSecrets: EcuSecretStore;
  /** True when this start made the API token (`paths.apiToken`): the one start that may show it. */
  readonly apiTokenCreated: boolean;
  diagnose(req: DiagnoseRequest): Promise<DiagResult>;
  vehicles(): Promise<VehicleView[]>;
  vehicle(id: string): Promise<VehicleView | undefined>;
  /** Approve a vehicle held pending (VEHICLE_UNKNOWN if the registry has none by that id). */
  approveVehicle(id: string, actor: string): Promise<VehicleView>;
  stats(): Promise<ManagerStats>;
  /** Resolves once connected and subscribed to the broker (BROKER_DISCONNECTED after timeoutMs). */
  waitForBroker(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Subscriptions: every vehicle's presence and uplink. */
export const MANAGER_SUBSCRIPTIONS = [`${TOPIC_ROOT}/+/status`, `${TOPIC_ROOT}/+/up/hs`, `${TOPIC_ROOT}/+/up/rec`] as const;

async function loadIdentity(pkiDir: string, name: string): Promise<{ ca: string; certPem: string; keyPem: string; trust: Awaited<ReturnType<typeof loadTrustStore>> }> {
  try {
    const { certPem, keyPem } = await loadIssued(pkiDir, name);
    const trust = await loadTrustStore(pkiDir);
    return { ca: trust.caPem, certPem, keyPem, trust };
  } catch (e) {
    const why = e instanceof Error ? `: ${e.message}` : '';
    throw new ManagerError('MGR_CONFIG', `cannot load the manager certificate '${name}', CA and CRL from ${pkiDir}${why} (run ota pki init / issue --role manager --name ${name})`, { cause: e });
  }
}

/** Start a manager: open the store, connect to the broker (retrying in the background), listen on HTTP. */
export async function createManager(opts: ManagerOptions): Promise<Manager> {
  const log = opts.log ?? stderrLog();
  const paths = managerPaths(opts.dataDir);
  const brokerUrl = opts.brokerUrl ?? DEFAULT_BROKER_URL;
  const pkiDir = opts.pki?.dir ?? paths.pkiDir;
  const identity = await loadIdentity(pkiDir, opts.pki?.name ?? 'manager');
  // A manager ran here before (its token or firmware blobs are there): its database must be there too.
  const ranBefore = existsSync(paths.apiToken) || existsSync(paths.blobsDir);
  if (opts.resetDatabase) {
    const keptAs = setAsideSqliteFile(paths.database);
    if (keptAs !== undefined) log('warn', 'store.reset', { file: paths.database, keptAs });
  }
  // The CRL in force, followed while the manager runs (`ota pki revoke` rewrites crl.pem): every
  // handshake, job and firmware listing asks it; a change ends revoked sessions and reaches the gateways.
  let trustWatch: LiveTrust;
  try {
    trustWatch = await watchTrustDir(pkiDir, { log: (line) => log('warn', 'pki.trust', { line }) });
  } catch (e) {
    throw new ManagerError('MGR_CONFIG', `cannot load the CA and CRL from ${pkiDir}`, { cause: e });
  }
  const liveTrust = trustWatch;
  const { token, created: apiTokenCreated } = await openApiToken(paths.apiToken);
  const store = await openSqliteStore(paths.database, {
    mustExist: ranBefore && opts.resetDatabase !== true,
    onDiagLogError: (e, rows) => log('error', 'diag.log_failed', { rows, ...errorFields(e) }),
  });
  const started = Date.now();
  const counters = newCounters();
  const refusals = new Refusals(counters, log);

  let link: BrokerLink | undefined;
  let api: ApiServer | undefined;
  const repository = new FirmwareRepository({ store, blobs: new BlobStore(paths.blobsDir), trust: () => liveTrust.current() });
  const sessions: VehicleSessions = new VehicleSessions({
    identity,
    trust: () => liveTrust.current(),
    ...(opts.suites ? { suites: opts.suites } : {}),
    publish: (topic, payload) => (link ? link.publish(topic, payload) : Promise.reject(new ManagerError('BROKER_DISCONNECTED', 'no broker link'))),
    store,
    refusals,
    counters,
    log,
    onDiagResponse: (v, msg) => diagnostics.onResponse(v, msg),
    onOffline: (v) => {
      diagnostics.onOffline(v);
      engine.onOffline(v);
    },
    onSession: (v) => engine.onSession(v),
    onUpdate: (v, msg) => engine.onUpdate(v, msg),
    admit: (v, peer) => admit(v, peer),
    registerByName: async (v) => {
      if (!(await issuedHere(v))) return false;
      const at = new Date().toISOString();
      await store.registerVehicle(v, 'approved', at);
      await store.audit({ at, actor: 'manager', action: 'vehicle.register', target: v, detail: {} });
      return true;
    },
    ...(opts.helloRequestIntervalMs === undefined ? {} : { helloRequestIntervalMs: opts.helloRequestIntervalMs }),
    ...(opts.helloRequestMaxIntervalMs === undefined ? {} : { helloRequestMaxIntervalMs: opts.helloRequestMaxIntervalMs }),
  });
  const diagnostics: Diagnostics = new Diagnostics({ store, sessions, brokerConnected: () => link?.connected ?? false, counters, log });
  const jobOpts = opts.jobs ?? {};
  const engine: JobEngine = new JobEngine({
    store,
    repository,
    sessions,
    brokerConnected: () => link?.connected ?? false,
    log,
    ...(jobOpts.offerTimeoutMs === undefined ? {} : { offerTimeoutMs: jobOpts.offerTimeoutMs }),
    ...(jobOpts.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: jobOpts.ackTimeoutMs }),
    ...(jobOpts.flushIntervalMs === undefined ? {} : { flushIntervalMs: jobOpts.flushIntervalMs }),
    ...(jobOpts.announceWaitMs === undefined ? {} : { announceWaitMs: jobOpts.announceWaitMs }),
    ...(jobOpts.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: jobOpts.stallTimeoutMs }),
    ...(jobOpts.stallReoffers === undefined ? {} : { stallReoffers: jobOpts.stallReoffers }),
    ...(jobOpts.adaptiveWindow === undefined ? {} : { adaptiveWindow: jobOpts.adaptiveWindow }),
  });
  const jobs = new JobService({
    store,
    repository,
    engine,
    signer: { keyPem: identity.keyPem, certPem: identity.certPem },
    sessionState: (v) => sessions.state(v),
    ...(jobOpts.ttlMs === undefined ? {} : { ttlMs: jobOpts.ttlMs }),
    ...(jobOpts.chunkSize === undefined ? {} : { chunkSize: jobOpts.chunkSize }),
  });

  /**
   * The registry's rule for a vehicle with a valid certificate (docs/operations.md, "Revocation and the
   * fleet registry"): a registered vehicle is admitted if approved; a new one is registered approved when
   * the manager's PKI index issued exactly that certificate to it (`ota pki issue --role vehicle`, what
   * `ota up` and `ota vehicle --id` rely on), else registered pending until `ota vehicle approve`.
   */
  /** Whether the manager's PKI index holds a live vehicle certificate for `vehicleId` (with that serial, when given). */
  const issuedHere = (vehicleId: string, serial?: string): Promise<boolean> =>
    listPki(pkiDir).then(
      (index) => index.certificates.some((c) => c.role === 'vehicle' && c.name === vehicleId && !c.revoked && (serial === undefined || normalizeSerial(c.serial) === serial)),
      () => false,
    );
  const admit = async (vehicleId: string, peer: VerifiedIdentity): Promise<boolean> => {
    const known = store.peekVehicle(vehicleId);
    if (known !== undefined) return known.approval === 'approved';
    const issued = await issuedHere(vehicleId, peer.serial);
    const at = new Date().toISOString();
    await store.registerVehicle(vehicleId, issued ? 'approved' : 'pending', at);
    await store.audit({ at, actor: 'manager', action: issued ? 'vehicle.register' : 'vehicle.pending', target: vehicleId, detail: { serial: peer.serial } });
    if (!issued) log('warn', 'vehicle.pending_approval', { vehicleId, serial: peer.serial });
    return issued;
  };
  const approveVehicle = async (vehicleId: string, actor: string): Promise<VehicleView> => {
    if (!(await store.approveVehicle(vehicleId, actor, new Date().toISOString()))) throw new ManagerError('VEHICLE_UNKNOWN', `no vehicle '${vehicleId}'`);
    await sessions.requestSession(vehicleId); // ask it for a handshake now rather than at its next reconnect
    return (await vehicle(vehicleId)) as VehicleView;
  };

  const view = (v: VehicleRecord): VehicleView => {
    const session = sessions.state(v.id);
    return {
      id: v.id,
      online: v.online,
      session,
      reachable: v.online && session === 'established',
      firstSeen: v.firstSeen,
      lastSeen: v.lastSeen,
      statusAt: v.statusAt,
      gateway: { version: v.gatewayVersion, suites: v.suites },
      channelSuite: v.channelSuite,
      approval: v.approval,
      ecus: v.ecus,
    };
  };
  const vehicles = async (): Promise<VehicleView[]> => (await store.listVehicles()).map(view);
  const vehicle = async (id: string): Promise<VehicleView | undefined> => {
    const v = await store.getVehicle(id);
    return v && view(v);
  };
  const stats = async (): Promise<ManagerStats> => {
    const all = await store.listVehicles();
    const online = new Set(all.filter((v) => v.online).map((v) => v.id));
    const connected = sessions.established().filter((id) => online.has(id)).length;
    return {
      ...structuredClone(counters),
      diag: { ...counters.diag, inFlight: diagnostics.inFlight },
      vehicles: { known: all.length, online: online.size, connected },
      jobs: engine.stats(),
      uptimeS: Math.round((Date.now() - started) / 1000),
    };
  };

  counters.revocation.crlNumber = identity.trust.crl?.number ?? null;
  liveTrust.onChange((trust) => {
    counters.revocation.crlNumber = trust.crl?.number ?? null;
    log('info', 'pki.crl_changed', { crlNumber: trust.crl?.number ?? null, revoked: trust.revoked.size });
    sessions.onTrust(trust);
    engine.onTrust(trust).catch((e: unknown) => log('error', 'jobs.revocation_failed', errorFields(e)));
  });

  const cleanup = async (): Promise<void> => {
    liveTrust.close();
    diagnostics.close();
    await engine.close().catch((e: unknown) => log('warn', 'jobs.close_failed', errorFields(e)));
    await api?.close().catch((e: unknown) => log('warn', 'api.close_failed', errorFields(e)));
    await link?.close();
    await sessions.close();
    await store.close();
  };

  try {
    await engine.start();
    link = new BrokerLink({
      url: brokerUrl,
      ca: identity.ca,
      cert: identity.certPem,
      key: identity.keyPem,
      clientIdPrefix: opts.pki?.name ?? 'manager',
      subscriptions: MANAGER_SUBSCRIPTIONS,
      onMessage: (topic, payload, retained) => sessions.handle(topic, payload, retained),
      onUp: () => engine.onLinkUp(),
      onDown: () => engine.onLinkDown(),
      log,
      counters,
      ...(opts.reconnect ? { backoff: opts.reconnect } : {}),
    });
    const apiHost = opts.http?.host ?? DEFAULT_API_HOST;
    const tls = await apiTlsFor(apiHost, pkiDir, opts.http?.insecureHttp === true);
    if (tls === undefined && !isLoopbackHost(apiHost)) log('warn', 'api.insecure_http', { host: apiHost });
    api = await startApi({
      ...(tls === undefined ? {} : { tls }),
      host: apiHost,
      port: opts.http?.port ?? DEFAULT_API_PORT,
      token,
      log,
      handlers: {
        health: () => ({ status: 'ok', version: MANAGER_VERSION, broker: { url: brokerUrl, connected: link?.connected ?? false }, uptimeS: Math.round((Date.now() - started) / 1000) }),
        vehicles,
        vehicle,
        approveVehicle,
        diagnose: (r) => diagnostics.diagnose(r),
        diagLog: (o) => store.listDiag(o),
        auditLog: (o) => store.listAudit(o),
        stats,
        addFirmware: (input) => repository.add(input),
        listFirmware: (o) => repository.list(o),
        getFirmware: (id) => repository.get(id),
        firmwareManifest: async (id) => (await repository.manifest(id)).signedManifest,
        createJob: (input) => jobs.create(input),
        listJobs: (o) => jobs.list(o),
        getJob: (id) => jobs.get(id),
        cancelJob: (id, actor, o) => jobs.cancel(id, actor, o),
      },
    });
    if (opts.announceFile !== false) await writeManagerJson(paths.managerJson, { api: api.url, broker: brokerUrl, pid: process.pid });
    await store.audit({ at: new Date().toISOString(), actor: 'manager', action: 'manager.start', target: api.url, detail: { broker: brokerUrl, pid: process.pid } });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const apiServer = api;
  const brokerLink = link;
  log('info', 'manager.listening', { api: apiServer.url, broker: brokerUrl, data: paths.dataDir });

  let closing: Promise<void> | undefined;
  return {
    paths,
    apiUrl: apiServer.url,
    apiAddress: { host: apiServer.host, port: apiServer.port },
    brokerUrl,
    store,
    firmware: repository,
    jobs,
    ecuSecrets: openEcuSecretStore(paths.managerDir),
    apiTokenCreated,
    diagnose: (r) => diagnostics.diagnose(r),
    vehicles,
    vehicle,
    approveVehicle,
    stats,
    waitForBroker: (timeoutMs) => brokerLink.whenConnected(timeoutMs),
    close: () => {
      closing ??= (async () => {
        if (opts.announceFile !== false) await removeManagerJson(paths.managerJson);
        await store.audit({ at: new Date().toISOString(), actor: 'manager', action: 'manager.stop', target: apiServer.url, detail: {} }).catch(() => undefined);
        await cleanup();
        log('info', 'manager.stopped', { api: apiServer.url });
      })();
      return closing;
    },
  };
}

/** Write `{ api, broker, pid }` atomically (src/platform; not synced: it describes this run only). */
async function writeManagerJson(file: string, content: { api: string; broker: string; pid: number }): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(content, null, 2) + '\n', { mode: 0o644, durable: false });
}

/** Remove manager.json if it is still ours (another manager may have started on the same data dir since). */
async function removeManagerJson(file: string): Promise<void> {
  try {
    const content = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown };
    if (content.pid === process.pid) await rm(file, { force: true });
  } catch {
    // absent or unreadable: nothing of ours to remove
  }
}
