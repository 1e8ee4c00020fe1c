/**
 * Firmware releases in the manager's repository and update jobs: start a job, watch every job's phase
 * and progress (polled at 2 Hz while any job is active), cancel, and add a signed release.
 */
import { useEffect, useState } from 'react';
import { api, ApiError, describeError, notifyMutation } from '../api/client';
import type { Job } from '../api/types';
import { JOB_PHASES, JobStateBadge } from '../components/status';
import { Badge, ErrorNotice, Freshness, Mono, Notice, PageHeader, ProgressBar, RelTime, useNow } from '../components/ui';
import { formatBytes, formatDateTime, hexNum } from '../lib/format';
import { usePoll } from '../lib/poll';
import { Link, paths } from '../lib/router';
import { AddFirmware } from './AddFirmware';
import { JobForm } from './JobForm';

const AFTER_DOWNLOAD = new Set(['verifying', 'erasing', 'programming', 'checking', 'rebooting']);

function JobProgress({ job }: { job: Job }) {
  const tone = job.state === 'done' ? 'ok' : job.state === 'failed' ? 'bad' : job.state === 'cancelled' ? 'neutral' : 'info';
  const step = JOB_PHASES.indexOf(job.phase);
  return (
    <div className="job-progress">
      <div className="job-progress-line">
        <span className="job-phase">{job.phase}</span>
        {step >= 0 && job.state === 'active' && (
          <span className="muted small">
            step {step + 1}/{JOB_PHASES.length}
          </span>
        )}
        <span className="job-percent">{Math.round(job.percent)}%</span>
      </div>
      <ProgressBar percent={job.percent} tone={tone} label={`Job ${job.id} ${job.phase}`} />
      {job.transfer !== null && (
        <div className="muted small">
          {job.transfer.stage}: {job.transfer.heldChunks}/{job.chunks} chunks held, {job.transfer.inFlight} in flight, window {job.transfer.window}
        </div>
      )}
      {job.reason !== null && (
        <div className="job-reason" title={job.reason.message}>
          <Mono>{job.reason.code}</Mono> {job.reason.message}
        </div>
      )}
    </div>
  );
}

function CancelButton({ job, onDone }: { job: Job; onDone: (message: string | undefined) => void }) {
  const [confirm, setConfirm] = useState(false);
  const force = AFTER_DOWNLOAD.has(job.phase);
  if (job.state !== 'active') return null;
  const cancel = async () => {
    try {
      await api.cancelJob(job.id, force);
      onDone(undefined);
    } catch (e) {
      onDone(e instanceof ApiError ? `${e.code}: ${e.message}` : describeError(e));
    } finally {
      setConfirm(false);
    }
  };
  if (!confirm) {
    return (
      <button type="button" className="btn btn-small" onClick={() => setConfirm(true)}>
        {force ? 'Force cancel…' : 'Cancel…'}
      </button>
    );
  }
  return (
    <span className="confirm-inline">
      <button type="button" className="btn btn-small btn-danger" onClick={() => void cancel()}>
        {force ? 'Yes, force' : 'Yes, cancel'}
      </button>
      <button type="button" className="btn-link small" onClick={() => setConfirm(false)}>
        Keep
      </button>
    </span>
  );
}

function JobsTable({ jobs, now, onCancelled }: { jobs: Job[]; now: number; onCancelled: (message: string | undefined) => void }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="jobs-table">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Vehicle / ECU</th>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col" className="col-progress">
              Progress
            </th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs.length === 0 && (
            <tr>
              <td colSpan={7} className="empty">
                No update job yet.
              </td>
            </tr>
          )}
          {jobs.map((j) => (
            <tr key={j.id} data-job={j.id}>
              <th scope="row">
                <Mono>{j.id}</Mono>
                <div className="muted small">fw {j.firmwareId}</div>
              </th>
              <td>
                <Link to={paths.vehicle(j.vehicleId)}>{j.vehicleId}</Link>
                <div className="small">{j.ecu}</div>
              </td>
              <td className="nowrap">
                <Mono>{j.fromVersion ?? '?'}</Mono> → <Mono>{j.toVersion}</Mono>
                {j.installedVersion !== null && <div className="muted small">installed {j.installedVersion}</div>}
              </td>
              <td>
                <JobStateBadge state={j.state} />
              </td>
              <td>
                <JobProgress job={j} />
              </td>
              <td className="small">
                <RelTime iso={j.createdAt} now={now} />
                <div className="muted">{j.createdBy}</div>
              </td>
              <td>
                <CancelButton job={j} onDone={onCancelled} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function FirmwareView() {
  const now = useNow(2000);
  const firmware = usePoll(() => api.firmware({ limit: 200 }), 15_000);
  const vehicles = usePoll(api.vehicles, 10_000);
  const [fast, setFast] = useState(false);
  const jobs = usePoll(() => api.jobs({ limit: 50 }), fast ? 500 : 5000);
  const [cancelError, setCancelError] = useState<string | undefined>();
  const anyActive = (jobs.data ?? []).some((j) => j.state === 'active');
  const activeCount = (jobs.data ?? []).filter((j) => j.state === 'active').length;
  useEffect(() => setFast(anyActive), [anyActive]);
  // A job started or ended: the header's counters should say so now, not at their next poll.
  useEffect(() => notifyMutation(), [activeCount]);
  const missing = firmware.error instanceof ApiError && (firmware.error.status === 404 || firmware.error.code === 'NOT_FOUND');

  if (missing) {
    return (
      <>
        <PageHeader title="Firmware & jobs" />
        <Notice tone="info" title="Not available on this manager">
          This manager has no firmware repository or update job routes.
        </Notice>
      </>
    );
  }
  return (
    <>
      <PageHeader title="Firmware & jobs" subtitle="Signed releases in the repository, and updates to vehicles' ECUs." />
      <section className="card" aria-labelledby="job-form-title">
        <div className="card-head">
          <h2 id="job-form-title">Start an update</h2>
        </div>
        <JobForm vehicles={vehicles.data ?? []} firmware={firmware.data ?? []} onCreated={() => jobs.refresh()} />
      </section>
      <section className="card" aria-labelledby="jobs-title">
        <div className="card-head">
          <h2 id="jobs-title">Update jobs</h2>
          <div className="freshness-row">
            {anyActive && <span className="live-dot">live</span>}
            <Freshness updatedAt={jobs.updatedAt} onRefresh={jobs.refresh} now={now} stale={jobs.error !== undefined} />
          </div>
        </div>
        {cancelError !== undefined && <Notice tone="bad" title="Cancel refused">{cancelError}</Notice>}
        {jobs.error !== undefined && jobs.data === undefined && <ErrorNotice error={jobs.error} what="the jobs" />}
        <JobsTable
          jobs={jobs.data ?? []}
          now={now}
          onCancelled={(m) => {
            setCancelError(m);
            jobs.refresh();
          }}
        />
      </section>
      <section className="card" aria-labelledby="fw-title">
        <div className="card-head">
          <h2 id="fw-title">Firmware repository</h2>
          <Freshness updatedAt={firmware.updatedAt} onRefresh={firmware.refresh} now={now} stale={firmware.error !== undefined} />
        </div>
        {firmware.error !== undefined && <ErrorNotice error={firmware.error} what="the firmware list" />}
        <div className="table-wrap">
          <table className="table" data-testid="firmware-table">
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Hardware</th>
                <th scope="col">Version</th>
                <th scope="col" className="num">
                  Counter
                </th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col">Load address</th>
                <th scope="col">SHA-256</th>
                <th scope="col">Signer</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {!firmware.loading && (firmware.data ?? []).length === 0 && (
                <tr>
                  <td colSpan={9} className="empty">
                    No release yet: sign one with <Mono>ota firmware sign</Mono> and add it below or with <Mono>ota firmware add</Mono>.
                  </td>
                </tr>
              )}
              {(firmware.data ?? []).map((f) => (
                <tr key={f.id}>
                  <th scope="row">
                    <Mono>{f.id}</Mono>
                  </th>
                  <td>
                    <Mono>{f.hardwareId}</Mono>
                  </td>
                  <td>
                    <strong>{f.version}</strong>
                  </td>
                  <td className="num">{f.counter}</td>
                  <td className="num nowrap">{formatBytes(f.length)}</td>
                  <td>
                    <Mono>{hexNum(f.loadAddress, 8)}</Mono> <span className="muted small">{f.format}</span>
                  </td>
                  <td>
                    <Mono className="truncate" title={f.sha256}>
                      {f.sha256.slice(0, 16)}…
                    </Mono>
                  </td>
                  <td className="small">
                    {f.signer.cn}{' '}
                    {f.revoked === true && (
                      <Badge tone="bad" title="the release certificate is revoked: no new job may use this firmware">
                        revoked
                      </Badge>
                    )}
                  </td>
                  <td className="small" title={formatDateTime(f.addedAt)}>
                    <RelTime iso={f.addedAt} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <AddFirmware onAdded={() => firmware.refresh()} />
      </section>
    </>
  );
}
