/**
 * Text from outside (record fields, scenario files, model output names, class names, paths, the
 * command line) made safe to display: control characters are shown as visible escapes (`\x1b`)
 * instead of reaching the terminal raw (where ESC sequences clear the screen, set the window
 * title, or hide text) or an SVG/HTML file (where XML 1.0 forbids them, so the SVG no longer
 * parses and the PNG export fails). Every terminal renderer and the SVG/HTML reports use it on
 * what they show; JSON output needs nothing (JSON.stringify escapes control characters itself).
 */

/**
 * C0 controls (NUL..US, with or without LF), DEL, C1 controls (which include the 8-bit CSI and OSC
 * introducers), and the Unicode bidirectional controls that can reorder what a reader sees.
 */
const CONTROLS = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const CONTROL_AND_LF = new RegExp(`[${CONTROLS}]`, 'gu');
const CONTROL = new RegExp(`(?!\\n)[${CONTROLS}]`, 'gu');
const ANY_CONTROL = new RegExp(`[${CONTROLS}]`, 'u');

const escapeChar = (c: string): string => {
  const code = c.codePointAt(0) as number;
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/**
 * `s` with every control character replaced by a visible escape (`\x1b`, `\t`, `\u202e`).
 * Newlines are kept when `keepNewlines` is set (multi-line messages), else shown as `\n`.
 */
export function printable(s: string, opts: { keepNewlines?: boolean } = {}): string {
  return s.replace(opts.keepNewlines ? CONTROL : CONTROL_AND_LF, escapeChar);
}

/** True when `s` holds nothing `printable` would replace. */
export function isPrintable(s: string): boolean {
  return !ANY_CONTROL.test(s);
}

/**
 * A copy of `v` with `printable` applied to every string in it (plain objects and arrays are
 * walked; typed arrays, numbers and other values are kept as they are).
 */
export function printableDeep<T>(v: T): T {
  if (typeof v === 'string') return printable(v) as T;
  if (Array.isArray(v)) return v.map((x: unknown) => printableDeep(x)) as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[printable(k)] = printableDeep(x);
    return out as T;
  }
  return v;
}
