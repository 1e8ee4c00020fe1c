/** Small presentational pieces shared by the views. */
import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, describeError } from '../api/client';
import { formatDateTime, timeAgo } from '../lib/format';

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'neutral';

export function Badge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

/** A message box; `bad` and `warn` are announced (role alert), the others politely (role status). */
export function Notice({ tone, title, children }: { tone: Tone; title?: string; children?: ReactNode }) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'bad' || tone === 'warn' ? 'alert' : 'status'}>
      {title !== undefined && <strong className="notice-title">{title}</strong>}
      {children !== undefined && <div className="notice-body">{children}</div>}
    </div>
  );
}

/** A failed load, in words a person can act on (a wrong token or a lost manager is the banner's job). */
export function ErrorNotice({ error, what }: { error: unknown; what: string }) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 0)) return null;
  return (
    <Notice tone="bad" title={`Could not load ${what}`}>
      {describeError(error)}
    </Notice>
  );
}

/** Re-render every `ms` (for relative times). */
export function useNow(ms = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** `12 s ago`, with the exact local time as a tooltip and machine-readable datetime. */
export function RelTime({ iso, now }: { iso: string | null | undefined; now: number }) {
  if (iso === null || iso === undefined) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {timeAgo(iso, now)}
    </time>
  );
}

/** Updated-at line with a manual refresh button; says so when the data shown is from an earlier poll. */
export function Freshness({ updatedAt, onRefresh, now, stale = false }: { updatedAt: number | undefined; onRefresh: () => void; now: number; stale?: boolean }) {
  const when = updatedAt === undefined ? undefined : timeAgo(new Date(updatedAt).toISOString(), now);
  return (
    <div className="freshness">
      <span className={stale && when !== undefined ? 'stale' : 'muted'}>
        {when === undefined ? (stale ? 'not loaded' : 'loading…') : stale ? `update failed · data from ${when}` : `updated ${when}`}
      </span>
      <button type="button" className="btn btn-small" onClick={onRefresh}>
        Refresh
      </button>
    </div>
  );
}

/** A determinate progress bar (0..100) with its value for assistive technology. */
export function ProgressBar({ percent, label, tone = 'info' }: { percent: number; label: string; tone?: Tone }) {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  return (
    <div className={`progress progress-${tone}`} role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={p}>
      <div className="progress-fill" style={{ width: `${p}%` }} />
    </div>
  );
}

export function Mono({ children, className = '', title }: { children: ReactNode; className?: string; title?: string }) {
  return (
    <code className={`mono ${className}`} title={title}>
      {children}
    </code>
  );
}

export function PageHeader({ title, subtitle, children }: { title: ReactNode; subtitle?: ReactNode; children?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle !== undefined && <p className="subtitle">{subtitle}</p>}
      </div>
      {children !== undefined && <div className="page-actions">{children}</div>}
    </div>
  );
}
