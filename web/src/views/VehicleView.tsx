/** One vehicle: presence and session facts, the ECU inventory from its last announce, and the console. */
import { api, ApiError } from '../api/client';
import type { Vehicle } from '../api/types';
import { EcuMode, SessionBadge, VehicleStatus } from '../components/status';
import { ErrorNotice, Freshness, Mono, Notice, PageHeader, RelTime, useNow } from '../components/ui';
import { formatDateTime } from '../lib/format';
import { usePoll } from '../lib/poll';
import { Link, paths } from '../lib/router';
import { DiagConsole } from './DiagConsole';

function Facts({ v, now }: { v: Vehicle; now: number }) {
  return (
    <dl className="facts card">
      <div>
        <dt>Presence</dt>
        <dd>
          <VehicleStatus vehicle={v} />{' '}
          <span className="muted small block">
            since <RelTime iso={v.statusAt} now={now} />
          </span>
        </dd>
      </div>
      <div>
        <dt>Secure session</dt>
        <dd>
          <SessionBadge session={v.session} /> {v.channelSuite !== null && <span className="muted small block">{v.channelSuite}</span>}
        </dd>
      </div>
      <div>
        <dt>Gateway</dt>
        <dd>{v.gateway.version ?? '—'}</dd>
      </div>
      <div>
        <dt>Suites offered</dt>
        <dd className="small">
          {v.gateway.suites.length === 0
            ? '—'
            : v.gateway.suites.map((s) => (
                <span key={s} className="block">
                  {s}
                </span>
              ))}
        </dd>
      </div>
      <div>
        <dt>Last seen</dt>
        <dd>
          <RelTime iso={v.lastSeen} now={now} />
        </dd>
      </div>
      <div>
        <dt>First seen</dt>
        <dd>{formatDateTime(v.firstSeen)}</dd>
      </div>
    </dl>
  );
}

function EcuTable({ v, now }: { v: Vehicle; now: number }) {
  return (
    <section className="card" aria-labelledby="ecu-title">
      <div className="card-head">
        <h2 id="ecu-title">ECU inventory</h2>
        <span className="muted small">from the gateway's last announce</span>
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="ecu-table">
          <thead>
            <tr>
              <th scope="col">ECU</th>
              <th scope="col">Link / address</th>
              <th scope="col">Mode</th>
              <th scope="col">Application</th>
              <th scope="col">Bootloader</th>
              <th scope="col">Hardware</th>
              <th scope="col">Serial</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {v.ecus.length === 0 && (
              <tr>
                <td colSpan={8} className="empty">
                  No ECU announced yet.
                </td>
              </tr>
            )}
            {v.ecus.map((e) => (
              <tr key={e.name}>
                <th scope="row">{e.name}</th>
                <td>
                  <span className="upper small">{e.link}</span> <Mono>{e.address}</Mono>
                </td>
                <td>
                  <EcuMode mode={e.mode} />
                </td>
                <td>
                  <Mono>{e.appVersion ?? '—'}</Mono>
                </td>
                <td>
                  <Mono>{e.bootVersion ?? '—'}</Mono>
                </td>
                <td>
                  <Mono>{e.hardwareId ?? '—'}</Mono>
                </td>
                <td>
                  <Mono>{e.serial ?? '—'}</Mono>
                </td>
                <td>
                  <RelTime iso={e.updatedAt} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function VehicleView({ id }: { id: string }) {
  const now = useNow();
  const vehicle = usePoll(() => api.vehicle(id), 3000, id);
  const v = vehicle.data;
  const unknown = vehicle.error instanceof ApiError && vehicle.error.code === 'VEHICLE_UNKNOWN';
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <ol>
          <li>
            <Link to={paths.fleet}>Fleet</Link>
          </li>
          <li aria-current="page">{id}</li>
        </ol>
      </nav>
      <PageHeader title={<span className="mono-title">{id}</span>} subtitle={v ? `${v.ecus.length} ECUs · gateway ${v.gateway.version ?? 'unknown'}` : undefined}>
        <Freshness updatedAt={vehicle.updatedAt} onRefresh={vehicle.refresh} now={now} stale={vehicle.error !== undefined} />
      </PageHeader>
      {unknown && (
        <Notice tone="warn" title="Unknown vehicle">
          No vehicle <Mono>{id}</Mono> has ever connected to this manager. <Link to={paths.fleet}>Back to the fleet</Link>
        </Notice>
      )}
      {vehicle.error !== undefined && !unknown && v === undefined && <ErrorNotice error={vehicle.error} what={`vehicle ${id}`} />}
      {v !== undefined && (
        <>
          <Facts v={v} now={now} />
          <EcuTable v={v} now={now} />
          <DiagConsole vehicle={v} />
        </>
      )}
    </>
  );
}
