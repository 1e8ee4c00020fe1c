/**
 * `ota jobs [--vehicle V] [--state active|done|failed|cancelled] [--json]`: the manager's update jobs,
 * newest first; `ota jobs show <id>`: one job in full; `ota jobs cancel <id> [--force]`: cancel an
 * active job (refused once the gateway installs, JOB_NOT_CANCELLABLE, unless --force).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Job } from '../manager/index.js';
import { resolveDataDir } from '../manager/paths.js';
import { OtaError } from '../protocol/errors.js';
import { ApiClient } from './api-client.js';
import { vehicleIdOf } from './diag.js';
import { table } from './fleet.js';
import { processIo, type CliIo } from './pki.js';
import { cancelJob, getJob, isJobId, JOB_LIST_STATES, listJobs, type JobListState } from './update/api.js';
import { escapeControls } from '../protocol/text.js';

const DATA_HELP = 'data directory of the manager (default $OTA_HOME or ./.ota)';

function jobIdArg(value: string): string {
  if (!isJobId(value)) throw new InvalidArgumentError('expected a job id (16 lower-case hex digits)');
  return value;
}

function parseLimit(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('expected 1-1000');
  return Number(value);
}

/** `downloading 45%`, `done`, `failed FW_ROLLBACK`. */
export function jobStatus(j: Job): string {
  if (j.state === 'active') return j.phase === 'queued' ? 'queued' : `${j.phase} ${j.percent}%`;
  return j.reason === null ? j.state : `${j.state} ${j.reason.code}`;
}

/** Jobs as a table, newest first. */
export function jobsTable(jobs: readonly Job[]): string {
  const rows = [['JOB', 'VEHICLE', 'ECU', 'FROM', 'TO', 'STATUS', 'SENT', 'CREATED']];
  for (const j of jobs) rows.push([j.id, j.vehicleId, j.ecu, j.fromVersion ?? '-', j.toVersion, jobStatus(j), `${j.bytesSent}/${j.imageLength}`, j.createdAt]);
  return `${table(rows)}\n${jobs.length} job${jobs.length === 1 ? '' : 's'}`;
}

/** One job as `key value` lines. */
export function jobDetails(j: Job): string {
  const rows: string[][] = [
    ['job', j.id],
    ['vehicle', j.vehicleId],
    ['ecu', j.ecu],
    ['firmware', j.firmwareId],
    ['versions', `${j.fromVersion ?? 'unknown'} → ${j.toVersion}${j.installedVersion === null ? '' : ` (installed ${j.installedVersion})`}`],
    ['state', `${j.state}, phase ${j.phase} ${j.percent}%`],
  ];
  if (j.reason !== null) rows.push(['reason', `${j.reason.code}: ${j.reason.message}`]);
  rows.push(
    ['image', `${j.imageLength} bytes in ${j.chunks} chunks of ${j.chunkSize} B`],
    ['sent', `${j.bytesSent} bytes, ${j.chunksSent} chunks (re-sends included), ${j.offers} offer${j.offers === 1 ? '' : 's'}`],
  );
  if (j.transfer !== null) rows.push(['transfer', `${j.transfer.stage}: ${j.transfer.heldChunks}/${j.chunks} chunks held, ${j.transfer.inFlight} in flight, window ${j.transfer.window}`]);
  rows.push(['assignment', `nonce ${j.nonce}, expires ${j.expiresAt}`], ['created', `${j.createdAt} by ${j.createdBy}`], ['updated', j.updatedAt]);
  if (j.finishedAt !== null) rows.push(['finished', j.finishedAt]);
  return table(rows);
}

export function registerJobs(program: Command, io: CliIo = processIo): void {
  const jobs = program
    .command('jobs')
    .description('list update jobs (newest first); `jobs show <id>`, `jobs cancel <id>`')
    .option('--vehicle <vehicle>', 'only this vehicle (id, or the unique end of one)')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_LIST_STATES))
    .option('--limit <n>', 'at most this many (1-1000, default 100)', parseLimit)
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print { jobs: [...] } as the API returns it')
    .action(async (opts: { vehicle?: string; state?: JobListState; limit?: number; data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const vehicle = opts.vehicle === undefined ? undefined : await vehicleIdOf(client, opts.vehicle);
      const list = await listJobs(client, {
        ...(vehicle === undefined ? {} : { vehicle }),
        ...(opts.state === undefined ? {} : { state: opts.state }),
        ...(opts.limit === undefined ? {} : { limit: opts.limit }),
      });
      io.out(opts.json ? JSON.stringify({ jobs: list }, null, 2) + '\n' : jobsTable(list) + '\n');
    });

  jobs
    .command('show')
    .description('show one update job')
    .argument('<id>', 'job id', jobIdArg)
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the job as JSON')
    .action(async (id: string, opts: { data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const job = await getJob(client, id);
      io.out(opts.json ? JSON.stringify(job, null, 2) + '\n' : jobDetails(job) + '\n');
    });

  jobs
    .command('cancel')
    .description('cancel an active job (refused while the gateway installs the image unless --force)')
    .argument('<id>', 'job id', jobIdArg)
    .option('--force', 'abandon the job even while the gateway installs (the gateway still runs its flash to the end)')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print the cancelled job as JSON')
    .action(async (id: string, opts: { force?: boolean; data?: string; json?: boolean }) => {
      const client = await ApiClient.open(resolveDataDir(opts.data));
      const job = await cancelJob(client, id, opts.force === true);
      if (job.state !== 'cancelled') throw new OtaError('JOB_NOT_CANCELLED', `job ${id} is ${job.state}`);
      io.out(opts.json ? JSON.stringify(job, null, 2) + '\n' : escapeControls(`cancelled job ${job.id} (${job.ecu} of ${job.vehicleId} stays at ${job.fromVersion ?? 'its version'} unless the gateway had already installed it)`) + '\n');
    });
}
