// Text another person controls, made safe to show, for both clients (issue 13 point 6): control
// characters and bidi controls are spelled out visibly (ESC -> ^[, U+202E -> <U+202E>) so nobody can
// move a terminal's cursor or reorder text on screen, and the invisible characters that make one name
// look like another (zero-width spaces and joiners, the BOM, ...) are spelled out in names and at the
// start of a line, where they could pass something off as something else. Browser-safe: no Node imports.

/** C0 (except tab), DEL, C1, and the Unicode bidi marks, embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Invisible characters: zero-width spaces and joiners, word joiner and invisible operators, the BOM,
 * soft hyphen, Mongolian vowel separator. Inside ordinary text some are legitimate (a ZWJ builds an
 * emoji), so they are spelled out only in names and at the start of a line.
 */
const INVISIBLE = /[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]/g;
const LEADING_INVISIBLE = /^[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]+/;

function spell(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20) return '^' + String.fromCharCode(code + 0x40);
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** One line: every unsafe character (a newline included) spelled out, and invisible ones at its start. */
export function neutralise(s: string): string {
  return s.replace(UNSAFE, spell).replace(LEADING_INVISIBLE, (run) => [...run].map(spell).join(''));
}

/** Multi-line text: each line neutralised on its own (so each line's start is checked); newlines kept. */
export function neutraliseText(s: string): string {
  return s
    .split('\n')
    .map((line) => neutralise(line))
    .join('\n');
}

/** For names (users, rooms): every invisible character is spelled out, wherever it is. */
export function neutraliseName(s: string): string {
  return s.replace(UNSAFE, spell).replace(INVISIBLE, spell);
}
