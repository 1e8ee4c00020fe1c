/** The fleet: every vehicle with presence, session, gateway and its ECUs' versions; refreshed every 3 s. */
import { useMemo, useState } from 'react';
import { api } from '../api/client';
import type { Ecu, Vehicle } from '../api/types';
import { EcuMode, SessionBadge, VehicleStatus } from '../components/status';
import { Badge, ErrorNotice, Freshness, Mono, PageHeader, RelTime, useNow } from '../components/ui';
import { usePoll } from '../lib/poll';
import { Link, paths } from '../lib/router';

function EcuLine({ ecu }: { ecu: Ecu }) {
  return (
    <li className="ecu-line">
      <span className="ecu-name">{ecu.name}</span>
      <EcuMode mode={ecu.mode} />
      <span className="ecu-ver">
        <span className="muted">app</span> <Mono>{ecu.appVersion ?? '—'}</Mono>
      </span>
      <span className="ecu-ver">
        <span className="muted">boot</span> <Mono>{ecu.bootVersion ?? '—'}</Mono>
      </span>
    </li>
  );
}

function matches(v: Vehicle, filter: string): boolean {
  if (filter.length === 0) return true;
  const f = filter.toLowerCase();
  return v.id.toLowerCase().includes(f) || v.ecus.some((e) => e.name.toLowerCase().includes(f) || (e.appVersion ?? '').includes(f));
}

export function FleetView() {
  const now = useNow();
  const vehicles = usePoll(api.vehicles, 3000);
  const [filter, setFilter] = useState('');
  const list = useMemo(() => (vehicles.data ?? []).filter((v) => matches(v, filter.trim())), [vehicles.data, filter]);
  const online = (vehicles.data ?? []).filter((v) => v.online).length;

  return (
    <>
      <PageHeader
        title="Fleet"
        subtitle={vehicles.data === undefined ? 'Vehicles known to this manager' : `${vehicles.data.length} vehicle${vehicles.data.length === 1 ? '' : 's'} known, ${online} online`}
      >
        <Freshness updatedAt={vehicles.updatedAt} onRefresh={vehicles.refresh} now={now} stale={vehicles.error !== undefined} />
      </PageHeader>
      {vehicles.error !== undefined && vehicles.data === undefined && <ErrorNotice error={vehicles.error} what="the fleet" />}
      <section className="card" aria-labelledby="fleet-table-title">
        <div className="card-head">
          <h2 id="fleet-table-title">Vehicles</h2>
          <div className="filter">
            <label htmlFor="fleet-filter" className="sr-only">
              Filter vehicles
            </label>
            <input id="fleet-filter" type="search" placeholder="Filter by vehicle, ECU or version" value={filter} onChange={(e) => setFilter(e.target.value)} />
          </div>
        </div>
        <div className="table-wrap">
          <table className="table" data-testid="fleet-table">
            <thead>
              <tr>
                <th scope="col">Vehicle</th>
                <th scope="col">Status</th>
                <th scope="col">Secure session</th>
                <th scope="col">ECUs</th>
                <th scope="col">Gateway</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {vehicles.loading && (
                <tr>
                  <td colSpan={6} className="empty">
                    Loading vehicles…
                  </td>
                </tr>
              )}
              {!vehicles.loading && list.length === 0 && (
                <tr>
                  <td colSpan={6} className="empty">
                    {vehicles.data === undefined
                      ? 'The fleet could not be loaded.'
                      : filter.length > 0
                        ? 'No vehicle matches the filter.'
                        : 'No vehicle has connected yet. Vehicles appear when their gateway announces itself.'}
                  </td>
                </tr>
              )}
              {list.map((v) => (
                <tr key={v.id} data-vehicle={v.id}>
                  <th scope="row" className="vehicle-cell">
                    <Link to={paths.vehicle(v.id)} className="vehicle-link">
                      {v.id}
                    </Link>
                  </th>
                  <td>
                    <VehicleStatus vehicle={v} />
                  </td>
                  <td>
                    {v.approval === 'pending' ? (
                      <Badge tone="warn" title="valid certificate, not in the fleet registry: approve with ota vehicle approve">
                        pending approval
                      </Badge>
                    ) : (
                      <SessionBadge session={v.session} />
                    )}
                    {v.channelSuite !== null && <div className="muted small">{v.channelSuite}</div>}
                  </td>
                  <td>
                    {v.ecus.length === 0 ? (
                      <span className="muted">no announce yet</span>
                    ) : (
                      <ul className="ecu-lines">
                        {v.ecus.map((e) => (
                          <EcuLine key={e.name} ecu={e} />
                        ))}
                      </ul>
                    )}
                  </td>
                  <td className="small">{v.gateway.version ?? <span className="muted">—</span>}</td>
                  <td>
                    <RelTime iso={v.lastSeen} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
