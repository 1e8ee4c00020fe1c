/**
 * Start an update job: vehicle, ECU (with its announced version and hardware id) and a firmware release
 * for that hardware; "Check" runs the manager's dry run (every check a real create makes, nothing signed).
 */
import { useId, useMemo, useState, type FormEvent } from 'react';
import { api, describeError } from '../api/client';
import type { Firmware, Job, JobPlan, Vehicle } from '../api/types';
import { Mono, Notice } from '../components/ui';
import { formatBytes, formatDateTime } from '../lib/format';

function Plan({ plan }: { plan: JobPlan }) {
  return (
    <Notice tone={plan.reachable ? 'ok' : 'warn'} title={`Dry run: ${plan.ecu} on ${plan.vehicleId} would go ${plan.fromVersion ?? '?'} → ${plan.toVersion}`}>
      <ul className="plain">
        <li>
          Image {formatBytes(plan.imageLength)} in {plan.chunks} chunks of {formatBytes(plan.chunkSize)}; assignment valid until {formatDateTime(plan.expiresAt)}.
        </li>
        <li>{plan.reachable ? 'The vehicle is reachable now: the offer goes out at once.' : 'The vehicle is not reachable now: the job waits for it.'}</li>
        {plan.queuedBehind > 0 && <li>Queued behind {plan.queuedBehind} active job(s) of this vehicle.</li>}
        {plan.notes.map((n) => (
          <li key={n}>{n}</li>
        ))}
      </ul>
    </Notice>
  );
}

export function JobForm({ vehicles, firmware, onCreated }: { vehicles: Vehicle[]; firmware: Firmware[]; onCreated: (job: Job) => void }) {
  const [vehicleId, setVehicleId] = useState('');
  const [ecuName, setEcuName] = useState('');
  const [firmwareId, setFirmwareId] = useState('');
  const [busy, setBusy] = useState(false);
  const [plan, setPlan] = useState<JobPlan | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [created, setCreated] = useState<Job | undefined>();
  const id = useId();

  const vehicle = vehicles.find((v) => v.id === vehicleId);
  const ecu = vehicle?.ecus.find((e) => e.name === ecuName);
  // Only releases for the ECU's hardware (when it announced one) are offered.
  const candidates = useMemo(() => firmware.filter((f) => ecu?.hardwareId == null || f.hardwareId === ecu.hardwareId), [firmware, ecu]);
  const ready = vehicle !== undefined && ecu !== undefined && candidates.some((f) => f.id === firmwareId);

  const run = async (dryRun: boolean) => {
    if (!ready) return;
    setBusy(true);
    setError(undefined);
    setPlan(undefined);
    setCreated(undefined);
    try {
      const r = await api.createJob({ vehicle: vehicleId, ecu: ecuName, firmware: firmwareId, ...(dryRun ? { dryRun: true } : {}) });
      if ('dryRun' in r) setPlan(r);
      else {
        setCreated(r);
        onCreated(r);
      }
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(false);
  };

  return (
    <form className="job-form" onSubmit={submit} aria-labelledby="job-form-title">
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-vehicle`}>Vehicle</label>
          <select
            id={`${id}-vehicle`}
            value={vehicleId}
            onChange={(e) => {
              setVehicleId(e.target.value);
              setEcuName('');
              setFirmwareId('');
            }}
            required
          >
            <option value="">Choose a vehicle…</option>
            {vehicles.map((v) => (
              <option key={v.id} value={v.id}>
                {v.id} {v.reachable ? '' : '(not reachable)'}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-ecu`}>ECU</label>
          <select
            id={`${id}-ecu`}
            value={ecuName}
            onChange={(e) => {
              setEcuName(e.target.value);
              setFirmwareId('');
            }}
            disabled={vehicle === undefined}
            required
          >
            <option value="">Choose an ECU…</option>
            {(vehicle?.ecus ?? []).map((e) => (
              <option key={e.name} value={e.name}>
                {e.name} (app {e.appVersion ?? '?'})
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-fw`}>Firmware</label>
          <select id={`${id}-fw`} value={firmwareId} onChange={(e) => setFirmwareId(e.target.value)} disabled={ecu === undefined} required>
            <option value="">{ecu !== undefined && candidates.length === 0 ? 'No release for this hardware' : 'Choose a release…'}</option>
            {candidates.map((f) => (
              <option key={f.id} value={f.id}>
                {f.version} · counter {f.counter} · {formatBytes(f.length)}
              </option>
            ))}
          </select>
        </div>
        <div className="form-actions">
          <button type="button" className="btn" disabled={!ready || busy} onClick={() => void run(true)}>
            Check (dry run)
          </button>
          <button type="submit" className="btn btn-primary" disabled={!ready || busy}>
            Start job
          </button>
        </div>
      </div>
      {ecu !== undefined && (
        <p className="muted small">
          {ecu.name}: application <Mono>{ecu.appVersion ?? '?'}</Mono>, bootloader <Mono>{ecu.bootVersion ?? '?'}</Mono>, hardware <Mono>{ecu.hardwareId ?? '?'}</Mono>. Rollback
          (a release counter not above the installed one) is refused by the gateway and the bootloader.
        </p>
      )}
      {plan !== undefined && <Plan plan={plan} />}
      {created !== undefined && (
        <Notice tone="ok" title={`Job ${created.id} created`}>
          {created.ecu} on {created.vehicleId}: {created.fromVersion ?? '?'} → {created.toVersion}. Its progress shows in the table below.
        </Notice>
      )}
      {error !== undefined && <Notice tone="bad" title="The manager refused the job">{error}</Notice>}
    </form>
  );
}
