/**
 * Showing text that came from outside (a vehicle, a file, the network) on an operator's terminal.
 * Terminals act on control characters: ESC starts CSI/OSC sequences that move the cursor, rewrite lines,
 * set the window title or write the clipboard; CR returns to the start of the line so later text
 * overwrites earlier; BEL rings; 8-bit C1 codes (0x9B CSI, 0x9D OSC) act like ESC sequences on many
 * terminals; Unicode bidi controls reorder what is shown. `escapeControls` is the one function the CLI
 * shows every such string through.
 */

/**
 * True for the code units a terminal acts on: C0 controls (U+0000–U+001F), DEL and the C1 controls
 * (U+007F–U+009F), the line and paragraph separators (U+2028, U+2029), and the bidi marks, embeddings,
 * overrides and isolates (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069).
 */
function isControl(code: number): boolean {
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  if (code < 0x200e || code > 0x2069) return false;
  return code <= 0x200f || code === 0x2028 || code === 0x2029 || (code >= 0x202a && code <= 0x202e) || code >= 0x2066;
}

const LF = 0x0a;

export interface EscapeControlsOptions {
  /** Leave LF as it is (whole lines of output assembled by us); default false (one field: LF escaped too). */
  keepNewlines?: boolean;
}

/**
 * `text` with every terminal control character replaced by its `\uXXXX` escape (ESC → `\u001B`, CR →
 * `\u000D`, BEL → `\u0007`, CSI → `\u009B`), so it shows as inert characters. The escape is JSON's, so
 * JSON text stays valid JSON with the same value. Printable text, including non-ASCII letters, is
 * unchanged.
 */
export function escapeControls(text: string, options: EscapeControlsOptions = {}): string {
  const keepLf = options.keepNewlines === true;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isControl(code) || (keepLf && code === LF)) continue;
    out += text.slice(from, i) + '\\u' + code.toString(16).toUpperCase().padStart(4, '0');
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}
