// Pure text helpers for the views: the one time format, links found in text, and the words a search
// matched. No DOM: render.ts turns these pieces into nodes, and tests run them under Node.
import { matchRanges } from '../protocol/search-terms.js';

// toLocale*String with options builds a new formatter on every call (a tenth of a millisecond, and far
// more on a page's first call); a history page draws two per message. Made on first use, so the
// locale is the one the page runs in, as with toLocale*String.
let timeFormat: Intl.DateTimeFormat | undefined;
let dateFormat: Intl.DateTimeFormat | undefined;

/**
 * The clock shown beside every message and notice: the user's locale (12- or 24-hour as it says), or
 * always 24-hour `HH:MM` when the user asked for it (/clock 24), which is exactly the console's `[HH:MM]`.
 */
export function clockTime(ts: string, clock24: boolean): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '--:--';
  if (clock24) return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  timeFormat ??= new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
  return timeFormat.format(d);
}

/** A date and the same clock, for times that may be days away (search results, last seen, tooltips). */
export function dateTime(ts: string, clock24: boolean): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  dateFormat ??= new Intl.DateTimeFormat([], { year: 'numeric', month: 'short', day: 'numeric' });
  return `${dateFormat.format(d)} ${clockTime(ts, clock24)}`;
}

export type Piece = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

/** http(s) URLs in running text; what follows is trimmed of the punctuation that usually ends a sentence. */
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = ".,;:!?)]}'\"";

/** Sentence punctuation after a URL is not part of it; a `)` is, when it closes a `(` of the URL (Wikipedia). */
function trimUrl(url: string): string {
  let u = url;
  while (u.length > 0 && TRAILING.includes(u.at(-1)!)) {
    if (u.endsWith(')') && u.split('(').length > u.split(')').length - 1) break;
    u = u.slice(0, -1);
  }
  return u;
}

/**
 * Splits text into plain pieces and links. Only http and https become links (a `javascript:` or
 * `data:` URL stays text), and only when the URL parses; the href is the parsed form, so what the
 * browser opens is what the text says.
 */
export function linkify(text: string): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    const raw = trimUrl(m[0]);
    const start = m.index;
    let href: string | undefined;
    try {
      const u = new URL(raw);
      if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
    } catch {
      href = undefined;
    }
    if (href === undefined) continue;
    if (start > at) out.push({ kind: 'text', text: text.slice(at, start) });
    out.push({ kind: 'link', text: raw, href });
    at = start + raw.length;
  }
  if (at < text.length) out.push({ kind: 'text', text: text.slice(at) });
  return out;
}

/**
 * Splits text into the pieces that are words the search matched (`terms`, as the server compares them:
 * protocol/search-terms.ts, shared with the server) and the pieces between them.
 */
export function highlight(text: string, terms: readonly string[]): { text: string; match: boolean }[] {
  const out: { text: string; match: boolean }[] = [];
  let at = 0;
  for (const r of matchRanges(text, terms)) {
    if (r.start > at) out.push({ text: text.slice(at, r.start), match: false });
    out.push({ text: text.slice(r.start, r.end), match: true });
    at = r.end;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), match: false });
  return out;
}

/** "alice is typing…", "alice and bob are typing…", "several people are typing…". */
export function typingLine(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
  return 'Several people are typing…';
}
