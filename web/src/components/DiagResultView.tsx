/**
 * One diagnostic exchange as an engineer reads it: request and response bytes, the outcome (positive,
 * negative with the NRC named and highlighted, none, or an API error), timings, and the manager's
 * decoding of the response — DTCs with their status bits, DID records with their values, other fields
 * as a list — with the raw decoded JSON one click away.
 */
import type { DiagResult } from '../api/types';
import { spacedHex } from '../lib/format';
import type { HistoryEntry } from '../lib/history';
import { nrcHint } from '../lib/nrc';
import { DTC_STATUS_BITS, dtcDescription } from '../lib/uds';
import { Badge, Mono } from './ui';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

function DtcTable({ dtcs }: { dtcs: unknown[] }) {
  if (dtcs.length === 0) return <p className="decoded-empty">No DTC matches the status mask: the fault memory is clear.</p>;
  const withBit = (bit: string) => dtcs.filter((d) => isObject(d) && Array.isArray(d['statusBits']) && (d['statusBits'] as unknown[]).includes(bit)).length;
  const confirmed = withBit('confirmedDTC');
  const warning = withBit('warningIndicatorRequested');
  return (
    <table className="table table-compact dtc-table">
      <caption>
        {dtcs.length} DTC{dtcs.length === 1 ? '' : 's'}
        <span className="muted">
          {' '}
          · {confirmed} confirmed · {withBit('pendingDTC')} pending{warning > 0 ? ` · ${warning} requesting the warning indicator` : ''}
        </span>
      </caption>
      <thead>
        <tr>
          <th scope="col">DTC</th>
          <th scope="col">Description</th>
          <th scope="col">Status</th>
          <th scope="col">Status bits</th>
        </tr>
      </thead>
      <tbody>
        {dtcs.filter(isObject).map((d, i) => {
          const code = str(d['dtc']);
          const bits = Array.isArray(d['statusBits']) ? (d['statusBits'] as unknown[]).map(str) : [];
          return (
            <tr key={`${code}-${i}`}>
              <th scope="row">
                <Mono className="dtc-code">{code}</Mono>
              </th>
              <td>{dtcDescription(code) ?? <span className="muted">—</span>}</td>
              <td>
                <Mono>{str(d['status'])}</Mono>
              </td>
              <td>
                <ul className="chips" aria-label={`status bits of ${code}`}>
                  {bits.map((b) => {
                    const known = DTC_STATUS_BITS[b];
                    const tone = b === 'confirmedDTC' || b === 'warningIndicatorRequested' ? 'chip-bad' : b === 'testFailed' || b === 'pendingDTC' ? 'chip-warn' : '';
                    return (
                      <li key={b} className={`chip ${tone}`} title={b}>
                        {known?.label ?? b}
                      </li>
                    );
                  })}
                </ul>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function DidTable({ records }: { records: unknown[] }) {
  return (
    <table className="table table-compact">
      <thead>
        <tr>
          <th scope="col">DID</th>
          <th scope="col">Name</th>
          <th scope="col">Value</th>
          <th scope="col">Raw</th>
        </tr>
      </thead>
      <tbody>
        {records.filter(isObject).map((r, i) => {
          const data = isObject(r['data']) ? r['data'] : {};
          return (
            <tr key={i}>
              <th scope="row">
                <Mono>{str(r['did'])}</Mono>
              </th>
              <td>{str(r['name']) || <span className="muted">—</span>}</td>
              <td className="did-value">{typeof data['ascii'] === 'string' ? <strong>{data['ascii']}</strong> : <span className="muted">(binary)</span>}</td>
              <td>
                <Mono className="wrap">{str(data['hex'])}</Mono>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const HIDDEN_FIELDS = new Set(['service', 'direction', 'sid', 'dtcs', 'records', 'nrc', 'nrcName', 'requestSid']);

function fieldValue(v: unknown): string {
  if (isObject(v) && typeof v['hex'] === 'string') return typeof v['ascii'] === 'string' ? `"${v['ascii']}" (${v['hex']})` : v['hex'] || '(empty)';
  if (Array.isArray(v)) return v.map((x) => (isObject(x) ? JSON.stringify(x) : str(x))).join(', ') || '(none)';
  return str(v);
}

/** The manager's decoding of a response. */
export function DecodedView({ decoded }: { decoded: unknown }) {
  if (!isObject(decoded)) return null;
  const fields = Object.entries(decoded).filter(([k]) => !HIDDEN_FIELDS.has(k));
  return (
    <div className="decoded">
      {fields.length > 0 && (
        <dl className="fields">
          {fields.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{fieldValue(v)}</dd>
            </div>
          ))}
        </dl>
      )}
      {Array.isArray(decoded['dtcs']) && <DtcTable dtcs={decoded['dtcs']} />}
      {Array.isArray(decoded['records']) && <DidTable records={decoded['records']} />}
    </div>
  );
}

function Outcome({ result }: { result: DiagResult }) {
  if (result.response === null) return <Badge tone="neutral">No response (suppressed)</Badge>;
  if (result.positive) return <Badge tone="ok">Positive response</Badge>;
  return <Badge tone="bad">Negative response</Badge>;
}

/** The service name the manager decoded, e.g. `ReadDTCInformation`. */
function serviceOf(result: DiagResult): string | undefined {
  return isObject(result.decoded) && typeof result.decoded['service'] === 'string' ? result.decoded['service'] : undefined;
}

export function DiagResultView({ entry }: { entry: HistoryEntry }) {
  const { result, error } = entry;
  return (
    <article className="result" aria-label="Diagnostic result" data-testid="diag-result">
      <div className="result-head">
        <div className="result-title">
          {result !== undefined ? <Outcome result={result} /> : error !== undefined ? <Badge tone="bad">Request failed</Badge> : <Badge tone="info">Waiting for the ECU…</Badge>}
          <span className="result-service">{(result && serviceOf(result)) ?? entry.label ?? 'Raw request'}</span>
        </div>
        <div className="result-meta muted small">
          ECU <strong>{entry.ecu}</strong>
          {result !== undefined && (
            <>
              {' '}
              · {result.elapsedMs} ms on the vehicle · {result.roundTripMs} ms round trip
              {result.pending > 0 && <> · {result.pending}× response pending (78)</>}
            </>
          )}
        </div>
      </div>
      <div className="exchange">
        <div className="exchange-row">
          <span className="exchange-dir">Request</span>
          <Mono className="hex">{spacedHex(entry.request)}</Mono>
        </div>
        {result !== undefined && (
          <div className="exchange-row">
            <span className="exchange-dir">Response</span>
            <Mono className={`hex ${result.positive ? '' : 'hex-neg'}`}>{result.response === null ? '(none)' : spacedHex(result.response)}</Mono>
          </div>
        )}
      </div>
      {result?.nrc !== undefined && (
        <div className="nrc" role="alert" data-testid="nrc">
          <span className="nrc-code">NRC {result.nrc.hex}</span>
          <strong className="nrc-name">{result.nrc.name}</strong>
          {nrcHint(result.nrc.code) !== undefined && <span className="nrc-hint">{nrcHint(result.nrc.code)}</span>}
        </div>
      )}
      {error !== undefined && (
        <div className="nrc" role="alert">
          <span className="nrc-code">{error.status === 0 ? 'unreachable' : `HTTP ${error.status}`}</span>
          <strong className="nrc-name">{error.code}</strong>
          <span className="nrc-hint">{error.message}</span>
        </div>
      )}
      {result?.decodeError !== undefined && (
        <p className="muted small">
          The response did not decode ({result.decodeError.code}): {result.decodeError.message}
        </p>
      )}
      {result !== undefined && result.positive && <DecodedView decoded={result.decoded} />}
      {result !== undefined && result.decoded !== null && (
        <details className="raw-json">
          <summary>Decoded JSON</summary>
          <pre>{JSON.stringify(result.decoded, null, 2)}</pre>
        </details>
      )}
    </article>
  );
}
