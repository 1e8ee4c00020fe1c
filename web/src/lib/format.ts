/** Display helpers: times, byte sizes and hex as engineers read them. */

/** `12 s ago`, `4 min ago`, `3 h ago`, else the local date. */
export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return formatDateTime(iso);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Local `2025-01-31 14:05:09`. */
export function formatDateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Local `14:05:09.123`. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `1d 2h`, `3h 4m`, `5m 6s`. */
export function formatUptime(s: number): string {
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${Math.floor(s % 60)}s`;
}

/** `56.0 KiB`, `1.5 MiB`, `512 B`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** `22F190` → `22 F1 90`. */
export function spacedHex(hex: string | null | undefined): string {
  if (hex === null || hex === undefined) return '';
  return hex.replace(/\s+/g, '').toUpperCase().replace(/(..)(?=.)/g, '$1 ');
}

/** `0x...` with `digits` hex digits. */
export function hexNum(n: number, digits = 2): string {
  return `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
}

/**
 * A UDS request as typed (`22 F1 90`, `22F190`, `0x22 0xF1 0x90`, `22,f1,90`) → `22F190`, or an error
 * message saying what is wrong. The manager checks again; this only spares a round trip.
 */
export function normalizeHex(input: string): { hex: string } | { error: string } {
  const tokens = input.trim().split(/[\s,;:]+/).filter((t) => t.length > 0);
  if (tokens.length === 0) return { error: 'Enter a UDS request in hex, e.g. 22 F1 90.' };
  let hex = '';
  for (const raw of tokens) {
    const t = raw.replace(/^0x/i, '');
    if (!/^[0-9a-f]+$/i.test(t)) return { error: `"${raw}" is not hex.` };
    if (t.length % 2 !== 0) {
      if (t.length === 1 && tokens.length > 1) hex += `0${t}`;
      else return { error: `"${raw}" has an odd number of hex digits.` };
    } else hex += t;
  }
  if (hex.length / 2 > 4095) return { error: 'At most 4095 bytes.' };
  return { hex: hex.toUpperCase() };
}
