/**
 * Everything `ota` writes to a terminal goes through `escapeControls` (src/protocol/text.ts): a vehicle,
 * a file or the network may put ESC/OSC sequences, CR or BEL into a version string, an ECU name or an
 * error message, and printing them raw would let them rewrite the operator's screen. Fields are escaped
 * where a line is built (`escapeControls(value)`, LF included); the writers below escape what is left
 * of whole output (every control but our own LFs) as the last line of defence. JSON output stays valid
 * JSON with the same values: the escapes are JSON's own.
 */
import { escapeControls } from '../protocol/text.js';

/** A writer of whole lines to `stream`: every terminal control character but LF is escaped. */
export function terminalWriter(stream: NodeJS.WritableStream): (text: string) => void {
  return (text) => void stream.write(escapeControls(text, { keepNewlines: true }));
}

/** Standard output, escaped. */
export const writeOut = terminalWriter(process.stdout);
/** Standard error, escaped. */
export const writeErr = terminalWriter(process.stderr);

/**
 * Rows as aligned columns (the last column is not padded). Every cell is shown through `escapeControls`,
 * so a cell from a vehicle or a file can neither move the cursor nor break the row.
 */
export function table(rows: readonly (readonly string[])[]): string {
  const shown = rows.map((r) => r.map((cell) => escapeControls(cell)));
  const widths = shown[0]?.map((_, i) => Math.max(...shown.map((r) => (r[i] ?? '').length))) ?? [];
  return shown.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}
