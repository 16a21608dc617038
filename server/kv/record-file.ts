// A small durable log of JSON records for state that is small and changes rarely (accounts, tokens,
// room topics): one line per change, `<crc32 hex> <json>\n`, fsynced before the change counts. Replayed
// whole at start: a torn last line (a crash mid-write) is cut off, a damaged line elsewhere is skipped
// with a warning. When the owner finds the file mostly dead lines it rewrites it from its live state:
// written aside, fsynced, renamed over, directory fsynced.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from '../store/crc32.js';

/** A line longer than this is damage, not a record: these records are a few hundred bytes. */
const MAX_LINE = 16 * 1024;

export class RecordFile<R> {
  private file: FileHandle | undefined;
  /** Writes go one after another: each line is whole and fsynced before the next starts. */
  private chain: Promise<void> = Promise.resolve();
  readonly path: string;

  constructor(
    private readonly dir: string,
    name: string,
    /** Checks a parsed line field by field; undefined counts as damage. */
    private readonly decode: (value: unknown) => R | undefined,
    private readonly warn: (line: string) => void,
  ) {
    this.path = join(dir, name);
  }

  /** Applies every good record in order; returns how many there were. */
  replay(apply: (rec: R) => void): number {
    if (!existsSync(this.path)) return 0;
    const buf = readFileSync(this.path);
    let pos = 0;
    let count = 0;
    let goodEnd = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break; // a torn last line: cut below
      const line = buf.subarray(pos, nl);
      const at = pos;
      pos = nl + 1;
      const rec = line.length <= MAX_LINE ? this.parse(line) : undefined;
      if (rec !== undefined) {
        apply(rec);
        count++;
      } else {
        this.warn(`${this.path}: damaged line at byte ${at} skipped`);
      }
      goodEnd = pos;
    }
    if (goodEnd < buf.length) {
      this.warn(`${this.path}: torn last line (${buf.length - goodEnd} bytes) cut off`);
      truncateSync(this.path, goodEnd);
    }
    return count;
  }

  /** Replaces the file with exactly these records, atomically. Before open(). */
  rewrite(records: Iterable<R>): void {
    const lines: string[] = [];
    for (const r of records) lines.push(encodeLine(r));
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, lines.join(''));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    const dirFd = openSync(this.dir, 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  }

  async open(): Promise<void> {
    this.file = await open(this.path, 'a');
  }

  /** Resolves once the record is on disk. A failed write fails its own change only. */
  append(rec: R): Promise<void> {
    const line = encodeLine(rec);
    const next = this.chain.then(async () => {
      const file = this.file;
      if (!file) throw new Error(`${this.path} is not open`);
      await file.write(line);
      await file.datasync();
    });
    this.chain = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file?.close();
    this.file = undefined;
  }

  private parse(line: Buffer): R | undefined {
    if (line.length < 10 || line[8] !== 0x20) return undefined;
    const crc = Number.parseInt(line.toString('latin1', 0, 8), 16);
    if (!Number.isInteger(crc) || crc32(line, 9, line.length) !== crc) return undefined;
    try {
      return this.decode(JSON.parse(line.toString('utf8', 9)));
    } catch {
      return undefined;
    }
  }
}

function encodeLine(rec: unknown): string {
  const json = JSON.stringify(rec);
  const bytes = Buffer.from(json, 'utf8');
  return `${crc32(bytes, 0, bytes.length).toString(16).padStart(8, '0')} ${json}\n`;
}
