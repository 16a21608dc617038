// permessage-deflate (RFC 7692) without per-connection zlib state: we always negotiate
// server_no_context_takeover and client_no_context_takeover, so every message is an independent
// raw-deflate stream. That makes sync zlib safe, keeps memory per connection at zero, and lets a
// broadcast be compressed once and shared by every connection with the same window size.
import zlib from 'node:zlib';
import { CloseCode, wsError } from './errors.js';

export interface DeflateParams {
  serverNoContextTakeover: true;
  clientNoContextTakeover: true;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Messages smaller than this go out uncompressed: below ~1 KB deflate rarely pays for its CPU. */
export const DEFLATE_THRESHOLD = 1024;

/** The empty stored block that a sync flush ends with; RFC 7692 7.2.1 removes it on the wire. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// zlib's raw deflate cannot use a 256-byte window (it silently bumps 8 to 9), so we cannot honour
// server_max_window_bits=8: answering 9 would break the RFC's "equal or smaller" rule, so such an
// offer is declined and the next one tried.
const MIN_SERVER_WINDOW_BITS = 9;

type Param = { name: string; value: string | undefined };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Splits `s` on `sep` outside double quotes. Returns undefined for an unterminated quote.
 */
function splitOutsideQuotes(s: string, sep: string): string[] | undefined {
  const parts: string[] = [];
  let cur = '';
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inQuote) {
      if (c === '\\') {
        cur += c + (s[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') inQuote = false;
      cur += c;
    } else if (c === '"') {
      inQuote = true;
      cur += c;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (inQuote) return undefined;
  parts.push(cur);
  return parts;
}

/** One offer: `name; p1; p2=v`. Undefined when malformed. */
function parseOffer(text: string): { name: string; params: Param[] } | undefined {
  const parts = splitOutsideQuotes(text, ';');
  if (!parts) return undefined;
  const name = parts[0]!.trim();
  if (!TOKEN.test(name)) return undefined;
  const params: Param[] = [];
  for (const raw of parts.slice(1)) {
    const p = raw.trim();
    const eq = p.indexOf('=');
    const pname = (eq < 0 ? p : p.slice(0, eq)).trim();
    if (!TOKEN.test(pname)) return undefined;
    if (eq < 0) {
      params.push({ name: pname.toLowerCase(), value: undefined });
      continue;
    }
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"')) {
      // RFC 7692 7.1: a quoted value must, once unquoted, still be a valid token.
      if (v.length < 2 || !v.endsWith('"')) return undefined;
      v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    if (!TOKEN.test(v)) return undefined;
    params.push({ name: pname.toLowerCase(), value: v });
  }
  return { name: name.toLowerCase(), params };
}

function windowBits(v: string): number | undefined {
  // Strict: 8..15 written plainly ("08" or "+9" are not a valid window size per the ABNF).
  if (!/^(8|9|1[0-5])$/.test(v)) return undefined;
  return Number(v);
}

/** Accepts one permessage-deflate offer or returns undefined to decline it. */
function acceptOffer(params: Param[]): { params: DeflateParams; response: string } | undefined {
  const seen = new Set<string>();
  let serverBits: number | undefined;
  for (const p of params) {
    // RFC 7692 7: duplicate parameters make the offer invalid.
    if (seen.has(p.name)) return undefined;
    seen.add(p.name);
    switch (p.name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (p.value !== undefined) return undefined;
        break;
      case 'server_max_window_bits': {
        if (p.value === undefined) return undefined;
        const b = windowBits(p.value);
        if (b === undefined || b < MIN_SERVER_WINDOW_BITS) return undefined;
        serverBits = b;
        break;
      }
      case 'client_max_window_bits':
        // Without a value it only says the client could honour a limit; with one, the client will
        // use at most that window. Either way we inflate with a 15-bit window, which reads any smaller
        // one, so we never need to constrain the client and leave it out of the answer.
        if (p.value !== undefined && windowBits(p.value) === undefined) return undefined;
        break;
      default:
        return undefined;
    }
  }
  let response = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  // 7.1.2.1: if the client asked for a limit, the answer must carry it (equal or smaller).
  if (serverBits !== undefined) response += `; server_max_window_bits=${serverBits}`;
  return {
    params: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: serverBits ?? 15,
      clientMaxWindowBits: 15,
    },
    response,
  };
}

export function negotiateDeflate(header: string | undefined): { params: DeflateParams; response: string } | undefined {
  if (header === undefined) return undefined;
  const offers = splitOutsideQuotes(header, ',');
  if (!offers) return undefined;
  for (const text of offers) {
    if (text.trim() === '') continue;
    const offer = parseOffer(text);
    if (!offer || offer.name !== 'permessage-deflate') continue;
    const accepted = acceptOffer(offer.params);
    if (accepted) return accepted;
  }
  return undefined;
}

function isTooLarge(e: unknown): boolean {
  return e instanceof RangeError || (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE');
}

/**
 * Inflates one message. maxOutputLength makes zlib stop as soon as the output passes the limit, so a
 * zip bomb costs at most maxBytes of memory rather than whatever it expands to.
 */
export function inflateMessage(compressed: Buffer, maxBytes: number): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(Buffer.concat([compressed, TAIL]), {
      windowBits: 15,
      // A message never ends the deflate stream (no BFINAL block is required), so flush instead of
      // insisting on the end of the stream.
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      maxOutputLength: Math.max(1, maxBytes),
    });
  } catch (e) {
    if (isTooLarge(e)) throw wsError('WS_ERR_INFLATED_TOO_BIG', CloseCode.TOO_BIG, `inflated message exceeds ${maxBytes} bytes`);
    throw wsError('WS_ERR_INFLATE_FAILED', CloseCode.INVALID_PAYLOAD, `invalid compressed data: ${(e as Error).message}`);
  }
  if (out.length > maxBytes) throw wsError('WS_ERR_INFLATED_TOO_BIG', CloseCode.TOO_BIG, `inflated message exceeds ${maxBytes} bytes`);
  return out;
}

export function deflateMessage(data: Buffer, windowBits: number): Buffer {
  const out = zlib.deflateRawSync(data, {
    windowBits: Math.max(MIN_SERVER_WINDOW_BITS, Math.min(15, windowBits)),
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  // A sync flush always ends with the empty stored block; RFC 7692 7.2.1 says drop it.
  return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}
