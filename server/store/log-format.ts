// The on-disk frame of one log record: u32 LE payload length, u32 LE CRC-32 of the payload, then the
// payload (one JSON object, UTF-8). The length is bounded before it is trusted. A JSON payload never
// contains a 0x00 byte (JSON escapes control characters) while every header does (lengths are below
// 2^24), so resynchronising after damage can never mistake message text for a frame.
import { crc32 } from './crc32.js';

export const HEADER_BYTES = 8;
/** Largest payload accepted; a 4000-character message is far below it, so anything larger is damage. */
export const MAX_RECORD_BYTES = 1 << 20;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** CRC-32 stored in a frame's header. */
export function frameCrc(frame: Buffer): number {
  return frame.readUInt32LE(4);
}

export function encodeRecord(payload: string): Buffer {
  const len = Buffer.byteLength(payload);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + len);
  buf.write(payload, HEADER_BYTES, 'utf8');
  buf.writeUInt32LE(len, 0);
  buf.writeUInt32LE(crc32(buf, HEADER_BYTES, HEADER_BYTES + len), 4);
  return buf;
}

/** Bytes that did not form valid records. `tail`: nothing valid follows (a torn final write). */
export interface Damage {
  offset: number;
  length: number;
  tail: boolean;
}

export interface ScanResult {
  /** End of the last valid record: where appending may continue. */
  goodEnd: number;
  damage: Damage[];
}

/** Payload length of a valid frame at `pos`, or -1. */
export function validAt(buf: Buffer, pos: number): number {
  if (buf.length - pos < HEADER_BYTES) return -1;
  const len = buf.readUInt32LE(pos);
  const start = pos + HEADER_BYTES;
  if (len < 2 || len > MAX_RECORD_BYTES || start + len > buf.length) return -1;
  if (buf[start] !== OPEN_BRACE || buf[start + len - 1] !== CLOSE_BRACE) return -1;
  if (crc32(buf, start, start + len) !== buf.readUInt32LE(pos + 4)) return -1;
  return len;
}

/** A valid record found by scanRecords: its frame starts at `offset`; `length` counts the payload. */
export type OnRecord = (buf: Buffer, offset: number, length: number) => void;

/**
 * Walks every record of one segment file (or of its part from `start`, a record boundary). A damaged
 * stretch is skipped by searching for the next position where a whole valid record starts, so one
 * flipped bit costs one record, not the rest of the file; damage with nothing valid after it is
 * reported as a torn tail. Offsets are relative to `buf`.
 */
export function scanRecords(buf: Buffer, onRecord: OnRecord, start = 0): ScanResult {
  const damage: Damage[] = [];
  let pos = start;
  let goodEnd = start;
  while (pos < buf.length) {
    const len = validAt(buf, pos);
    if (len >= 0) {
      onRecord(buf, pos, len);
      pos += HEADER_BYTES + len;
      goodEnd = pos;
      continue;
    }
    // Candidates are positions whose payload would start with `{`: jump between them with indexOf.
    let next = -1;
    let from = pos + 1 + HEADER_BYTES;
    for (;;) {
      const brace = buf.indexOf(OPEN_BRACE, from);
      if (brace < 0) break;
      if (validAt(buf, brace - HEADER_BYTES) >= 0) {
        next = brace - HEADER_BYTES;
        break;
      }
      from = brace + 1;
    }
    if (next < 0) {
      damage.push({ offset: pos, length: buf.length - pos, tail: true });
      break;
    }
    damage.push({ offset: pos, length: next - pos, tail: false });
    pos = next;
  }
  return { goodEnd, damage };
}
