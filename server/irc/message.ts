// IRC lines: one received line parsed into a message, and the server's lines formatted. RFC 1459 framing
// with IRCv3 message-tags (https://ircv3.net/specs/extensions/message-tags). Lengths are checked before
// anything is decoded: the tags part of a client's line may take 4094 bytes (its `@` and the space
// after it included), the rest 510 (512 with the CR LF); a line over either is refused whole
// (417 ERR_INPUTTOOLONG), and so is one that is not UTF-8 (the server is UTF8ONLY). Errors are values.
import { isUtf8 } from 'node:buffer';

/** Bytes a client's tags may take, from the `@` through the space that ends them. */
export const MAX_CLIENT_TAG_BYTES = 4094;
/** Bytes of everything after the tags, without the CR LF. */
export const MAX_BODY_BYTES = 510;
/** The longest line the splitter needs to hold: longer ones are too long whatever their shape. */
export const MAX_LINE_BYTES = MAX_CLIENT_TAG_BYTES + MAX_BODY_BYTES;

export interface IrcMessage {
  /** Tags with their values unescaped (a tag without a value has ""); undefined when none were sent. */
  tags: ReadonlyMap<string, string> | undefined;
  /** The `:source` a client may send (servers ignore it). */
  source: string | undefined;
  /** Upper-cased. */
  command: string;
  params: string[];
}

export type LineError =
  /** Tags over 4094 bytes or the rest over 510; `command` is the line's command as far as it could be read, or `*`. */
  | { ok: false; code: 'input_too_long'; command: string }
  | { ok: false; code: 'bad_utf8'; command: string }
  /** Only tags, a source or spaces: nothing to answer. */
  | { ok: false; code: 'no_command' };

export type ParsedLine = { ok: true; msg: IrcMessage } | LineError;

const SPACE = 0x20;
const AT = 0x40;
const COLON = 0x3a;

/** Parses one line (without its CR LF). Never throws. */
export function parseLine(line: Buffer): ParsedLine {
  let i = 0;
  let tagText: string | undefined;
  if (line[0] === AT) {
    const sp = line.indexOf(SPACE);
    if (sp < 0) return line.length + 1 > MAX_CLIENT_TAG_BYTES ? { ok: false, code: 'input_too_long', command: '*' } : { ok: false, code: 'no_command' };
    if (sp + 1 > MAX_CLIENT_TAG_BYTES) return { ok: false, code: 'input_too_long', command: commandOf(line, sp + 1) };
    i = sp + 1;
    while (line[i] === SPACE) i++;
    if (!isUtf8(line.subarray(1, sp))) return { ok: false, code: 'bad_utf8', command: commandOf(line, i) };
    tagText = line.toString('utf8', 1, sp);
  }
  if (line.length - i > MAX_BODY_BYTES) return { ok: false, code: 'input_too_long', command: commandOf(line, i) };
  const body = line.subarray(i);
  if (!isUtf8(body)) return { ok: false, code: 'bad_utf8', command: commandOf(line, i) };
  const text = body.toString('utf8');
  let at = 0;
  let source: string | undefined;
  if (text.charCodeAt(0) === COLON) {
    const sp = text.indexOf(' ');
    if (sp < 0) return { ok: false, code: 'no_command' };
    source = text.slice(1, sp);
    at = sp + 1;
  }
  const params: string[] = [];
  let command: string | undefined;
  while (at < text.length) {
    if (text.charCodeAt(at) === SPACE) {
      at++;
      continue;
    }
    if (command !== undefined && text.charCodeAt(at) === COLON) {
      params.push(text.slice(at + 1));
      break;
    }
    let end = text.indexOf(' ', at);
    if (end < 0) end = text.length;
    const word = text.slice(at, end);
    if (command === undefined) command = word.toUpperCase();
    else params.push(word);
    at = end;
  }
  if (command === undefined) return { ok: false, code: 'no_command' };
  return { ok: true, msg: { tags: tagText === undefined ? undefined : parseTags(tagText), source, command, params } };
}

/** The command word at `from`, for the error reply about a line that cannot be read whole. */
function commandOf(line: Buffer, from: number): string {
  let i = from;
  if (line[i] === COLON) {
    const sp = line.indexOf(SPACE, i);
    if (sp < 0) return '*';
    i = sp;
    while (line[i] === SPACE) i++;
  }
  let end = i;
  // Letters or digits only, and not many: the reply must not echo a line we refused.
  while (end < line.length && end - i < 32 && isAlnum(line[end]!)) end++;
  return end > i && (end === line.length || line[end] === SPACE) ? line.toString('latin1', i, end).toUpperCase() : '*';
}

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** A tag key: optional `+` (client-only), optional vendor `host/`, then letters, digits and `-`. */
const TAG_KEY = /^\+?([A-Za-z0-9.-]+\/)?[A-Za-z0-9-]+$/;

/** `a=b;+c;d=e\sf` → its tags, values unescaped; malformed keys are dropped, the last of a repeated key wins. */
export function parseTags(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (!TAG_KEY.test(key)) continue;
    tags.set(key, eq < 0 ? '' : unescapeTagValue(part.slice(eq + 1)));
  }
  return tags;
}

const UNESCAPE: Record<string, string> = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

export function unescapeTagValue(v: string): string {
  if (!v.includes('\\')) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c !== '\\') out += c;
    // A lone backslash at the end is dropped; an unknown escape stands for the character itself.
    else if (i + 1 < v.length) out += UNESCAPE[v[++i]!] ?? v[i];
  }
  return out;
}

export function escapeTagValue(v: string): string {
  return v.replace(/[\\; \r\n]/g, (c) => (c === '\\' ? '\\\\' : c === ';' ? '\\:' : c === ' ' ? '\\s' : c === '\r' ? '\\r' : '\\n'));
}

/**
 * One server line without tags or CR LF: `:source COMMAND p1 p2 :last`. The last parameter gets its `:`
 * when it needs one (empty, a space, a leading `:`). Parameters never carry CR, LF or NUL: those become
 * spaces, so nothing a user wrote can end a line early.
 */
export function formatLine(source: string, command: string, params: readonly string[]): string {
  let line = `:${source} ${command}`;
  for (let i = 0; i < params.length; i++) {
    let p = params[i]!;
    if (/[\r\n\0]/.test(p)) p = p.replace(/[\r\n\0]/g, ' ');
    const last = i === params.length - 1;
    line += last && (p === '' || p.includes(' ') || p.charCodeAt(0) === COLON) ? ` :${p}` : ` ${p}`;
  }
  return line;
}

/**
 * Like formatLine, but the last parameter (free text: a topic, an away message) is cut at a character
 * boundary so the line fits in MAX_BODY_BYTES; it always gets its `:`.
 */
export function formatFitted(source: string, command: string, params: readonly string[], text: string): string {
  const head = formatLine(source, command, params);
  const room = MAX_BODY_BYTES - Buffer.byteLength(head, 'utf8') - 2;
  return `${head} :${truncateUtf8(text.replace(/[\r\n\0]/g, ' '), Math.max(0, room))}`;
}

/** Adds one tag (`key=value`, value already escaped) in front of a formatted line's other tags. */
export function withTag(line: string, tag: string): string {
  return line.charCodeAt(0) === AT ? `@${tag};${line.slice(1)}` : `@${tag} ${line}`;
}

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, cut between characters. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += cp > 0xffff ? 2 : 1;
  }
  return text.slice(0, i);
}
