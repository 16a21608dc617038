// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum every log record and sidecar
// carries. zlib.crc32 (native, ~10x faster) arrived in Node 20.15; earlier Node 20 releases use the
// slice-by-4 tables below, several times faster than the one-table loop. Both give the same values.
import * as zlib from 'node:zlib';

type NativeCrc = (data: Uint8Array, value?: number) => number;
/** Typed by hand: @types/node 20 may predate it. */
const native = (zlib as unknown as { crc32?: NativeCrc }).crc32;

const TABLES: Uint32Array[] = (() => {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  const tables = [t0];
  for (let s = 1; s < 4; s++) {
    const prev = tables[s - 1]!;
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) t[n] = (t0[prev[n]! & 0xff]! ^ (prev[n]! >>> 8)) >>> 0;
    tables.push(t);
  }
  return tables;
})();

/**
 * CRC-32 of bytes [start, end) of `buf`; with `prev` (the CRC of the bytes before), of them all, so a
 * file can be checked chunk by chunk without holding it whole.
 */
export function crc32(buf: Uint8Array, start = 0, end = buf.length, prev = 0): number {
  return native ? native(buf.subarray(start, end), prev) >>> 0 : crc32Tables(buf, start, end, prev);
}

/** The portable implementation (exported for the test that checks both agree). */
export function crc32Tables(buf: Uint8Array, start = 0, end = buf.length, prev = 0): number {
  const [t0, t1, t2, t3] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = (prev ^ 0xffffffff) >>> 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    crc ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    crc = t3[crc & 0xff]! ^ t2[(crc >>> 8) & 0xff]! ^ t1[(crc >>> 16) & 0xff]! ^ t0[crc >>> 24]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
