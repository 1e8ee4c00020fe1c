/**
 * `ota flash <vehicle> --ecu <name> <firmware-id|file>`: update one ECU of one vehicle through the manager
 * (docs/update-flow.md). A file is added to the repository first (its manifest: --manifest, default
 * `<file>.manifest`); then a job is created (POST /jobs) and followed (GET /jobs/:id at 4 Hz) with a
 * progress bar per phase on a terminal, one line per phase change elsewhere.
 *
 * Exit status: 0 when the job is done (prints old → new version), 1 when it failed (the gateway's or the
 * manager's reason code, e.g. FW_ROLLBACK) or was refused, 2 a usage error. `--dry-run` makes every
 * check a real job would and says what it would do; `--no-wait` creates the job and returns.
 */
import { stat } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { FirmwareRecord, Job, JobPlan } from '../manager/index.js';
import { resolveDataDir } from '../manager/paths.js';
import { OtaError } from '../protocol/errors.js';
import { IMAGE_FORMATS, type ImageFormat } from '../protocol/firmware/image.js';
import { ApiClient, type ApiError } from './api-client.js';
import { parseEcuName, vehicleIdOf } from './diag.js';
import { parseUint32 } from './firmware.js';
import { processIo, type CliIo } from './pki.js';
import { createJob, findFirmware, isFirmwareRef, planJob } from './update/api.js';
import { describeFirmware, uploadFirmware } from './update/firmware-commands.js';
import { BarProgress, LineProgress, type ProgressView } from './update/progress.js';
import { watchJob } from './update/watch.js';
import { escapeControls } from '../protocol/text.js';

/** Assignment lifetime in seconds, as the API takes it (60 s … 30 days). */
export function parseTtl(value: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) < 60 || Number(value) > 2_592_000) throw new InvalidArgumentError('expected seconds, 60-2592000');
  return Number(value);
}

export interface FlashOptions {
  ecu: string;
  manifest?: string;
  base?: number;
  format?: ImageFormat;
  dryRun?: boolean;
  json?: boolean;
  wait: boolean;
  ttl?: number;
  data?: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The firmware `ref` names: a file (uploaded first) or an id / digest in the repository. */
async function resolveFirmware(client: ApiClient, ref: string, opts: FlashOptions, io: CliIo): Promise<FirmwareRecord> {
  if (await isFile(ref)) {
    const { firmware, created } = await uploadFirmware(client, ref, opts);
    if (!opts.json) io.out(`${created ? 'added' : 'already in the repository:'} firmware ${firmware.id}: ${describeFirmware(firmware)}\n`);
    return firmware;
  }
  if (!isFirmwareRef(ref)) throw new OtaError('CLI_FILE', `'${ref}' is neither a file nor a firmware id (16 hex digits; see \`ota firmware list\`)`);
  const firmware = await findFirmware(client, ref);
  if (firmware === undefined) throw new OtaError('FIRMWARE_UNKNOWN', `no firmware '${ref}' (see \`ota firmware list\`, or give the image file)`);
  return firmware;
}

function planText(p: JobPlan): string {
  const lines = [
    `dry run: would flash ${p.ecu} of ${p.vehicleId}: ${p.fromVersion ?? 'unknown'} → ${p.toVersion} (firmware ${p.firmware.id}, counter ${p.firmware.counter})`,
    `  ${p.imageLength} bytes in ${p.chunks} chunks of ${p.chunkSize} B; assignment valid until ${p.expiresAt}`,
    `  vehicle ${p.reachable ? 'reachable now' : 'not reachable now: the job would wait for it'}${p.queuedBehind > 0 ? `; behind ${p.queuedBehind} active job(s)` : ''}`,
    ...p.notes.map((n) => `  note: ${n}`),
  ];
  return lines.map((l) => escapeControls(l)).join('\n') + '\n';
}

function seconds(job: Job): string {
  const end = job.finishedAt === null ? Date.now() : Date.parse(job.finishedAt);
  return ((end - Date.parse(job.createdAt)) / 1000).toFixed(1);
}

/** The job's outcome: a line for people; an OtaError (exit 1) unless done. */
function outcome(job: Job): { text: string; error?: OtaError } {
  const what = `${job.ecu} of ${job.vehicleId}`;
  if (job.state === 'done') {
    const sent = job.bytesSent === job.imageLength ? `${job.bytesSent} bytes sent` : `${job.bytesSent} bytes sent for a ${job.imageLength}-byte image`;
    return { text: escapeControls(`done: ${what}: ${job.fromVersion ?? 'unknown'} → ${job.installedVersion ?? job.toVersion} (job ${job.id}, ${sent}, ${seconds(job)} s)`) + '\n' };
  }
  const reason = job.reason ?? { code: job.state === 'cancelled' ? 'JOB_CANCELLED' : 'GW_FAILED', message: `the job ended ${job.state}` };
  return {
    text: escapeControls(`${job.state}: ${what} stays at ${job.fromVersion ?? 'its version'}: ${reason.code}: ${reason.message} (job ${job.id})`) + '\n',
    error: new OtaError(reason.code, `job ${job.id} ${job.state}: ${reason.message}`),
  };
}

/** Runs `ota flash` (exported for tests: `signal` stops following the job, `tty` picks the display). */
export async function runFlash(vehicle: string, ref: string, opts: FlashOptions, io: CliIo, env: { signal?: AbortSignal; tty?: boolean } = {}): Promise<Job | JobPlan> {
  const client = await ApiClient.open(resolveDataDir(opts.data));
  const vehicleId = await vehicleIdOf(client, vehicle);
  const firmware = await resolveFirmware(client, ref, opts, io);
  const req = { vehicle: vehicleId, ecu: opts.ecu, firmware: firmware.id, ...(opts.ttl === undefined ? {} : { ttlS: opts.ttl }) };
  if (opts.dryRun) {
    const plan = await planJob(client, req);
    io.out(opts.json ? JSON.stringify(plan, null, 2) + '\n' : planText(plan));
    return plan;
  }
  const created = await createJob(client, req);
  if (!opts.json) {
    io.out(escapeControls(`job ${created.id}: ${created.ecu} of ${created.vehicleId}: ${created.fromVersion ?? 'unknown'} → ${created.toVersion} (${created.imageLength} bytes, ${created.chunks} chunks of ${created.chunkSize} B)`) + '\n');
  }
  if (!opts.wait) {
    if (opts.json) io.out(JSON.stringify(created, null, 2) + '\n');
    else io.out(`follow it with: ota jobs show ${created.id}\n`);
    return created;
  }
  const view: ProgressView | undefined = opts.json ? undefined : env.tty ? new BarProgress() : new LineProgress((t) => io.out(t));
  let job: Job;
  try {
    job = await watchJob({
      client,
      jobId: created.id,
      onJob: (j) => view?.update(j),
      onManager: (state, e?: ApiError) => {
        if (opts.json) return;
        io.out(state === 'lost' ? `manager unreachable (${e?.code ?? '?'}); the job goes on, waiting for the manager…\n` : 'manager reachable again\n');
      },
      ...(env.signal === undefined ? {} : { signal: env.signal }),
    });
  } catch (e) {
    view?.stop();
    throw e;
  }
  view?.stop(job.state === 'done' ? 'done' : 'failed');
  const result = outcome(job);
  io.out(opts.json ? JSON.stringify(job, null, 2) + '\n' : result.text);
  if (result.error) throw result.error;
  return job;
}

export function registerFlash(program: Command, io: CliIo = processIo): void {
  program
    .command('flash')
    .description('update an ECU of a vehicle with a firmware release (an id from the repository, or an image file to add first) and follow the job')
    .argument('<vehicle>', 'vehicle id, or the unique end of one (e.g. 000001)')
    .argument('<firmware>', 'firmware id (16 hex digits) or an image file with its <file>.manifest')
    .requiredOption('--ecu <name>', 'ECU to update (e.g. engine)', parseEcuName)
    .option('--manifest <file>', 'signed manifest of an image file (default <file>.manifest)')
    .option('--base <address>', 'load address of a raw binary image file', parseUint32)
    .addOption(new Option('--format <format>', 'format of an image file (default: the manifest says)').choices(IMAGE_FORMATS))
    .option('--ttl <seconds>', 'assignment lifetime (60-2592000, default the manager’s: 86400)', parseTtl)
    .option('--dry-run', 'check everything a job would and print the plan; create nothing')
    .option('--no-wait', 'create the job and return without following it')
    .option('--json', 'print the final job (or the plan) as JSON, no progress display')
    .option('--data <dir>', 'data directory of the manager (default $OTA_HOME or ./.ota)')
    .action(async (vehicle: string, ref: string, opts: FlashOptions) => {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      try {
        await runFlash(vehicle, ref, opts, io, { signal: stop.signal, tty: process.stderr.isTTY === true });
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
