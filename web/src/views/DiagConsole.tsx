/**
 * The diagnostics console of one vehicle: pick an ECU, run a quick action or type a raw UDS request,
 * read the decoded answer; every exchange of this browser session stays in the history below.
 */
import { useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api, ApiError, describeError } from '../api/client';
import type { Vehicle } from '../api/types';
import { DiagResultView } from '../components/DiagResultView';
import { Badge, Mono, Notice } from '../components/ui';
import { formatClock, normalizeHex, spacedHex } from '../lib/format';
import { addHistory, clearHistory, completeHistory, useHistory, type HistoryEntry } from '../lib/history';
import { QUICK_ACTIONS, isRedacted, redactResult, redactUdsHex, type QuickAction } from '../lib/uds';

function outcomeBadge(e: HistoryEntry) {
  if (e.error !== undefined) return <Badge tone="bad">{e.error.code}</Badge>;
  if (e.result === undefined) return <Badge tone="info">waiting</Badge>;
  if (e.result.response === null) return <Badge tone="neutral">none</Badge>;
  if (e.result.positive) return <Badge tone="ok">positive</Badge>;
  return (
    <Badge tone="bad" title={e.result.nrc?.name}>
      NRC {e.result.nrc?.hex ?? '?'}
    </Badge>
  );
}

export function DiagConsole({ vehicle }: { vehicle: Vehicle }) {
  const history = useHistory(vehicle.id);
  const [ecu, setEcu] = useState<string>(() => vehicle.ecus[0]?.name ?? '');
  const [busy, setBusy] = useState(false);
  const [raw, setRaw] = useState('');
  const [rawError, setRawError] = useState<string | undefined>();
  const [shown, setShown] = useState<number | undefined>();
  const [confirming, setConfirming] = useState<string | undefined>();
  const recall = useRef(-1);
  const ecuKnown = vehicle.ecus.some((e) => e.name === ecu);
  const current = vehicle.ecus.length > 0 && !ecuKnown ? (vehicle.ecus[0]?.name ?? '') : ecu;

  const send = async (hex: string, label: string | undefined, target = current) => {
    if (busy || target === '') return;
    setBusy(true);
    setConfirming(undefined);
    const seq = addHistory(vehicle.id, { at: Date.now(), ecu: target, request: redactUdsHex(hex), label });
    setShown(seq);
    try {
      const result = await api.diag(vehicle.id, { ecu: target, request: hex });
      completeHistory(vehicle.id, seq, { result: redactResult(result) });
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'ERROR', describeError(e));
      completeHistory(vehicle.id, seq, { error: { status: err.status, code: err.code, message: err.status === 401 || err.status === 0 ? describeError(err) : err.message } });
    } finally {
      setBusy(false);
    }
  };

  const quick = (a: QuickAction) => {
    if (a.confirm !== undefined && confirming !== a.id) {
      setConfirming(a.id);
      return;
    }
    void send(a.request.replace(/\s+/g, ''), a.label);
  };

  const submitRaw = (e: FormEvent) => {
    e.preventDefault();
    const n = normalizeHex(raw);
    if ('error' in n) {
      setRawError(n.error);
      return;
    }
    setRawError(undefined);
    recall.current = -1;
    void send(n.hex, undefined);
  };

  // Up/Down in the request box walks through this session's requests, like a shell.
  const onRawKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    if (history.length === 0) return;
    e.preventDefault();
    recall.current = Math.max(-1, Math.min(history.length - 1, recall.current + (e.key === 'ArrowUp' ? 1 : -1)));
    setRaw(recall.current < 0 ? '' : spacedHex(history[recall.current]?.request));
  };

  const selected = history.find((h) => h.seq === shown) ?? history[0];

  return (
    <section className="card console" aria-labelledby="console-title">
      <div className="card-head">
        <h2 id="console-title">Diagnostics console</h2>
        <span className="muted small">UDS (ISO 14229-1) over the end-to-end secure channel</span>
      </div>
      {!vehicle.reachable && (
        <Notice tone="warn" title="Vehicle not reachable now">
          {vehicle.online ? 'The secure session is not established yet; requests wait for it briefly.' : 'The vehicle is offline: requests will fail with VEHICLE_OFFLINE.'}
        </Notice>
      )}
      <div className="console-grid">
        <div className="console-controls">
          <fieldset className="segmented">
            <legend>ECU</legend>
            {vehicle.ecus.length === 0 && <p className="muted">This vehicle has not announced any ECU yet.</p>}
            {vehicle.ecus.map((e) => (
              <label key={e.name} className="segment">
                <input type="radio" name="console-ecu" value={e.name} checked={current === e.name} onChange={() => setEcu(e.name)} />
                <span>
                  {e.name} <span className="segment-sub">{e.address}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {QUICK_ACTIONS.map((g) => (
            <fieldset key={g.title} className="actions">
              <legend>{g.title}</legend>
              <div className="action-buttons">
                {g.actions.map((a) => (
                  <button
                    key={a.id}
                    type="button"
                    className={`btn ${confirming === a.id ? 'btn-danger' : ''}`}
                    disabled={busy || current === ''}
                    onClick={() => quick(a)}
                    title={`${a.hint} — ${a.request}`}
                    data-action={a.id}
                  >
                    {confirming === a.id ? `Confirm: ${a.label.toLowerCase()}` : a.label}
                    <span className="btn-sub">{a.request}</span>
                  </button>
                ))}
              </div>
              {g.actions.some((a) => a.id === confirming) && (
                <p className="confirm-line" role="alert">
                  {g.actions.find((a) => a.id === confirming)?.confirm}{' '}
                  <button type="button" className="btn-link" onClick={() => setConfirming(undefined)}>
                    Keep them
                  </button>
                </p>
              )}
            </fieldset>
          ))}
          <form className="raw-form" onSubmit={submitRaw} noValidate>
            <label htmlFor="raw-request">Raw request (hex)</label>
            <div className="input-row">
              <input
                id="raw-request"
                className="mono"
                value={raw}
                onChange={(e) => setRaw(e.target.value)}
                onKeyDown={onRawKey}
                placeholder="22 F1 90"
                autoComplete="off"
                spellCheck={false}
                aria-invalid={rawError !== undefined}
                aria-describedby="raw-help"
              />
              <button type="submit" className="btn btn-primary" disabled={busy || current === ''}>
                Send
              </button>
            </div>
            <p id="raw-help" className={rawError !== undefined ? 'field-error' : 'field-help'}>
              {rawError ?? 'Bytes in hex, spaces optional. ↑/↓ recall earlier requests.'}
            </p>
          </form>
        </div>
        <div className="console-output" aria-live="polite" aria-busy={busy}>
          {selected === undefined ? (
            <div className="placeholder">
              <p>Pick an ECU and run a quick action, or type a raw request.</p>
              <p className="muted small">Responses are decoded by the manager: DTCs with their status bits, DIDs with their values, negative responses with the NRC by name.</p>
            </div>
          ) : (
            <DiagResultView entry={selected} />
          )}
        </div>
      </div>
      <div className="history">
        <div className="history-head">
          <h3>History (this session)</h3>
          {history.length > 0 && (
            <button type="button" className="btn btn-small" onClick={() => clearHistory(vehicle.id)}>
              Clear history
            </button>
          )}
        </div>
        {history.length === 0 ? (
          <p className="muted small">No request sent from this browser tab yet. The manager keeps every request in the diagnostic log.</p>
        ) : (
          <div className="table-wrap">
            <table className="table table-compact" data-testid="history">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">ECU</th>
                  <th scope="col">Request</th>
                  <th scope="col">Response</th>
                  <th scope="col">Outcome</th>
                  <th scope="col" className="num">
                    ms
                  </th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {history.map((h) => (
                  <tr key={h.seq} className={h.seq === selected?.seq ? 'row-selected' : undefined}>
                    <td className="nowrap">{formatClock(h.at)}</td>
                    <td>{h.ecu}</td>
                    <td>
                      <button type="button" className="btn-link mono" onClick={() => setShown(h.seq)} aria-pressed={h.seq === selected?.seq} title="Show this result">
                        {spacedHex(h.request)}
                      </button>
                      {h.label !== undefined && <span className="muted small"> {h.label}</span>}
                    </td>
                    <td>
                      <Mono className="truncate">{h.result?.response === undefined ? '' : h.result.response === null ? '—' : spacedHex(h.result.response)}</Mono>
                    </td>
                    <td>{outcomeBadge(h)}</td>
                    <td className="num">{h.result?.roundTripMs ?? ''}</td>
                    <td>
                      <button type="button" className="btn btn-small" disabled={busy || isRedacted(h.request)} onClick={() => void send(h.request, h.label, h.ecu)} title={`Send ${spacedHex(h.request)} to ${h.ecu} again`}>
                        Repeat
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </section>
  );
}
