/**
 * The manager's log port: one function, structured fields, never secrets (no keys, tokens, record
 * bytes or plaintext). The default writes one JSON line per event to stderr.
 */
import { escapeControls } from '../protocol/text.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ManagerLog = (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * JSON lines on stderr at `min` level and above (default info). Fields may quote a vehicle (an announced
 * version, a gateway error): the C1 and bidi controls JSON leaves raw are escaped too, so the line is inert
 * on a terminal and still the same JSON.
 */
export function stderrLog(min: LogLevel = 'info'): ManagerLog {
  return (level, event, fields = {}) => {
    if (RANK[level] < RANK[min]) return;
    process.stderr.write(escapeControls(JSON.stringify({ at: new Date().toISOString(), level, event, ...fields })) + '\n');
  };
}

/** Discards everything (tests that do not look at the log). */
export const silentLog: ManagerLog = () => undefined;

/** The code and message of any thrown value, for a log line. */
export function errorFields(e: unknown): { code: string; message: string } {
  if (e instanceof Error) return { code: (e as { code?: unknown }).code?.toString() ?? e.name, message: e.message };
  return { code: 'UNKNOWN', message: String(e) };
}
