/**
 * The manager's diagnostic log (every UDS request through it, whoever sent it) and the audit log,
 * newest first, filtered by vehicle and outcome, refreshed every 5 s while "Live" is on.
 */
import { useMemo, useState, type KeyboardEvent } from 'react';
import { api } from '../api/client';
import type { DiagLogEntry, DiagOutcome } from '../api/types';
import { Badge, ErrorNotice, Freshness, Mono, PageHeader, useNow, type Tone } from '../components/ui';
import { formatDateTime, hexNum, spacedHex } from '../lib/format';
import { nrcName } from '../lib/nrc';
import { usePoll } from '../lib/poll';
import { Link, paths } from '../lib/router';

const OUTCOME_TONE: Record<DiagOutcome, Tone> = { positive: 'ok', negative: 'bad', timeout: 'warn', error: 'bad' };
const LIMITS = [50, 200, 1000] as const;

function DiagRows({ entries }: { entries: DiagLogEntry[] }) {
  return (
    <>
      {entries.map((e) => (
        <tr key={e.id}>
          <td className="nowrap">
            <time dateTime={e.at}>{formatDateTime(e.at)}</time>
          </td>
          <td className="small">{e.actor}</td>
          <td>
            <Link to={paths.vehicle(e.vehicleId)}>{e.vehicleId}</Link>
          </td>
          <td>{e.ecu}</td>
          <td>
            <Mono>{spacedHex(e.request)}</Mono>
          </td>
          <td>
            <Mono className="truncate">{e.response === null ? '—' : spacedHex(e.response)}</Mono>
          </td>
          <td>
            <Badge tone={OUTCOME_TONE[e.outcome] ?? 'neutral'}>{e.outcome}</Badge>
          </td>
          <td className="small">
            {e.nrc !== null ? (
              <>
                <Mono>{hexNum(e.nrc)}</Mono> {nrcName(e.nrc) ?? ''}
              </>
            ) : e.errorCode !== null ? (
              <Mono>{e.errorCode}</Mono>
            ) : (
              ''
            )}
          </td>
          <td className="num">{e.elapsedMs ?? ''}</td>
        </tr>
      ))}
    </>
  );
}

function DiagLog() {
  const now = useNow();
  const [vehicle, setVehicle] = useState('');
  const [outcome, setOutcome] = useState<DiagOutcome | ''>('');
  const [limit, setLimit] = useState<number>(200);
  const [live, setLive] = useState(true);
  const vehicles = usePoll(api.vehicles, 30_000);
  const log = usePoll(() => api.diagLog({ vehicle, limit }), live ? 5000 : 0, `${vehicle}|${limit}|${live}`);
  const shown = useMemo(() => (log.data ?? []).filter((e) => outcome === '' || e.outcome === outcome), [log.data, outcome]);

  return (
    <section className="card" aria-labelledby="diaglog-title">
      <div className="card-head">
        <h2 id="diaglog-title">Diagnostic requests</h2>
        <Freshness updatedAt={log.updatedAt} onRefresh={log.refresh} now={now} stale={log.error !== undefined} />
      </div>
      <div className="toolbar" role="group" aria-label="Filters">
        <div className="field">
          <label htmlFor="log-vehicle">Vehicle</label>
          <select id="log-vehicle" value={vehicle} onChange={(e) => setVehicle(e.target.value)}>
            <option value="">All vehicles</option>
            {(vehicles.data ?? []).map((v) => (
              <option key={v.id} value={v.id}>
                {v.id}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="log-outcome">Outcome</label>
          <select id="log-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value as DiagOutcome | '')}>
            <option value="">Any</option>
            <option value="positive">Positive</option>
            <option value="negative">Negative</option>
            <option value="timeout">Timeout</option>
            <option value="error">Error</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="log-rows">Rows</label>
          <select id="log-rows" value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {LIMITS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live (every 5 s)
        </label>
      </div>
      {log.error !== undefined && <ErrorNotice error={log.error} what="the diagnostic log" />}
      <div className="table-wrap">
        <table className="table table-compact" data-testid="diag-log">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Vehicle</th>
              <th scope="col">ECU</th>
              <th scope="col">Request</th>
              <th scope="col">Response</th>
              <th scope="col">Outcome</th>
              <th scope="col">NRC / error</th>
              <th scope="col" className="num">
                ms
              </th>
            </tr>
          </thead>
          <tbody>
            {!log.loading && shown.length === 0 && (
              <tr>
                <td colSpan={9} className="empty">
                  No diagnostic request {outcome !== '' || vehicle !== '' ? 'matches the filters' : 'logged yet'}.
                </td>
              </tr>
            )}
            <DiagRows entries={shown} />
          </tbody>
        </table>
      </div>
    </section>
  );
}

function AuditLog() {
  const now = useNow();
  const audit = usePoll(() => api.auditLog({ limit: 200 }), 10_000);
  return (
    <section className="card" aria-labelledby="audit-title">
      <div className="card-head">
        <h2 id="audit-title">Audit log</h2>
        <Freshness updatedAt={audit.updatedAt} onRefresh={audit.refresh} now={now} stale={audit.error !== undefined} />
      </div>
      {audit.error !== undefined && <ErrorNotice error={audit.error} what="the audit log" />}
      <div className="table-wrap">
        <table className="table table-compact">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {!audit.loading && (audit.data ?? []).length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  Nothing audited yet.
                </td>
              </tr>
            )}
            {(audit.data ?? []).map((a) => (
              <tr key={a.id}>
                <td className="nowrap">{formatDateTime(a.at)}</td>
                <td className="small">{a.actor}</td>
                <td>
                  <Mono>{a.action}</Mono>
                </td>
                <td>
                  <Mono>{a.target}</Mono>
                </td>
                <td>
                  <span className="truncate wide small" title={JSON.stringify(a.detail, null, 1)}>
                    {Object.entries(a.detail)
                      .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)
                      .join(' · ')}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const TABS = [
  { id: 'diag', label: 'Diagnostic log' },
  { id: 'audit', label: 'Audit log' },
] as const;
type TabId = (typeof TABS)[number]['id'];

export function LogView() {
  const [tab, setTab] = useState<TabId>('diag');
  // ARIA tabs: one tab stop, arrow keys move between tabs (and select them).
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const i = TABS.findIndex((t) => t.id === tab);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : (i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length;
    const id = TABS[next]?.id ?? 'diag';
    setTab(id);
    document.getElementById(`tab-${id}`)?.focus();
  };
  return (
    <>
      <PageHeader title="Diagnostic & audit log" subtitle="Every diagnostic request through this manager, and who changed what." />
      <div className="tabs" role="tablist" aria-label="Log" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls="panel-log"
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div id="panel-log" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'diag' ? <DiagLog /> : <AuditLog />}
      </div>
    </>
  );
}
