/**
 * The top bar: product, navigation, the connection state (API reachable, token accepted, broker link)
 * and the manager's counters from /stats (diagnostics and refusals by code).
 */
import { useEffect, useSyncExternalStore } from 'react';
import { api, connectionStore, onMutation } from '../api/client';
import type { Health, Stats } from '../api/types';
import { formatUptime } from '../lib/format';
import { usePoll } from '../lib/poll';
import { Link, paths, usePathname } from '../lib/router';

const NAV = [
  { to: paths.fleet, label: 'Fleet', match: (p: string) => p === '/' || p.startsWith('/vehicles/') },
  { to: paths.log, label: 'Diagnostic log', match: (p: string) => p === paths.log },
  { to: paths.firmware, label: 'Firmware & jobs', match: (p: string) => p === paths.firmware },
];

function ConnectionState({ health }: { health: Health | undefined }) {
  const conn = useSyncExternalStore(connectionStore.subscribe, connectionStore.get);
  let tone: 'ok' | 'warn' | 'bad' | 'neutral';
  let text: string;
  let title: string;
  if (conn.state === 'unreachable') {
    [tone, text, title] = ['bad', 'Manager unreachable', conn.detail ?? 'no answer from the manager'];
  } else if (conn.state === 'unauthorized') {
    [tone, text, title] = ['bad', 'Not authorized', 'the API refused the token'];
  } else if (health?.broker !== undefined && !health.broker.connected) {
    [tone, text, title] = ['warn', 'Broker disconnected', `the manager is not connected to ${health.broker.url}`];
  } else if (conn.state === 'ok') {
    [tone, text, title] = ['ok', 'Connected', health?.broker !== undefined ? `manager ${health.version ?? '?'}, broker ${health.broker.url}, up ${formatUptime(health.uptimeS ?? 0)}` : 'connected'];
  } else {
    [tone, text, title] = ['neutral', 'Connecting…', 'waiting for the manager'];
  }
  return (
    <div className={`conn conn-${tone}`} title={title} role="status" aria-live="polite">
      <span className="conn-dot" aria-hidden="true" />
      <span>{text}</span>
    </div>
  );
}

function StatsBar({ stats }: { stats: Stats | undefined }) {
  if (stats === undefined) return null;
  const refused = Object.entries(stats.refused).sort((a, b) => b[1] - a[1]);
  return (
    <dl className="statsbar" aria-label="Manager counters">
      <div>
        <dt>Vehicles online</dt>
        <dd>
          {stats.vehicles.online}/{stats.vehicles.known}
        </dd>
      </div>
      <div>
        <dt>Sessions</dt>
        <dd>{stats.vehicles.connected}</dd>
      </div>
      <div>
        <dt>Diag requests</dt>
        <dd title={`positive ${stats.diag.positive}, negative ${stats.diag.negative}, timeouts ${stats.diag.timeout}, errors ${stats.diag.error}`}>
          {stats.diag.sent}
          {stats.diag.inFlight > 0 && <span className="muted"> ({stats.diag.inFlight} in flight)</span>}
        </dd>
      </div>
      <div>
        <dt>Negative / timeouts</dt>
        <dd>
          {stats.diag.negative} / {stats.diag.timeout}
        </dd>
      </div>
      {stats.jobs !== undefined && (
        <div>
          <dt>Active jobs</dt>
          <dd>{stats.jobs.active}</dd>
        </div>
      )}
      <div className="statsbar-refused">
        <dt>Refused</dt>
        <dd>
          {refused.length === 0 ? (
            <span className="refused-zero">{stats.refusedTotal}</span>
          ) : (
            <details className="refused">
              <summary>
                <span className="refused-count">{stats.refusedTotal}</span> <span className="sr-only">refusals, show by code</span>
              </summary>
              <div className="refused-pop">
                <p className="muted">Messages the manager refused since start (bad records, replays, wrong certificates…), by code:</p>
                <table className="table table-compact">
                  <thead>
                    <tr>
                      <th scope="col">Code</th>
                      <th scope="col" className="num">
                        Count
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {refused.map(([code, n]) => (
                      <tr key={code}>
                        <td>
                          <code className="mono">{code}</code>
                        </td>
                        <td className="num">{n}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          )}
        </dd>
      </div>
    </dl>
  );
}

export function Header() {
  const pathname = usePathname();
  const health = usePoll(api.health, 5000);
  const stats = usePoll(api.stats, 5000);
  const refreshStats = stats.refresh;
  useEffect(() => onMutation(refreshStats), [refreshStats]);
  return (
    <header className="topbar">
      <div className="topbar-row">
        <Link to={paths.fleet} className="brand">
          <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M12 2 3 6v6c0 5 3.8 9.4 9 10 5.2-.6 9-5 9-10V6l-9-4Z" fill="currentColor" opacity=".25" />
            <path d="M12 6v8m0 0-3-3m3 3 3-3M8 17h8" stroke="currentColor" strokeWidth="2" fill="none" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <span>
            OTA Service Manager <span className="brand-sub">diagnostics &amp; updates</span>
          </span>
        </Link>
        <nav aria-label="Main">
          <ul className="nav">
            {NAV.map((n) => (
              <li key={n.to}>
                <Link to={n.to} className="nav-link" aria-current={n.match(pathname) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <ConnectionState health={health.data} />
      </div>
      <StatsBar stats={stats.data} />
    </header>
  );
}
