// Read markers: per account and conversation, the highest seq the user has read, so unread counts
// agree on every device and survive a reload. Only the highest seq is kept (a marker never moves
// back). Behind an interface like the topics; here in memory (--memory) or in `reads.log` beside the
// log (a RecordFile, rewritten from the live markers when it is mostly superseded lines).
import { RecordFile } from './record-file.js';

export interface ReadMarker {
  /** `r:<room key>` or `w:<other user's key>`. */
  conv: string;
  /** Display spelling of the room or of the other user. */
  name: string;
  seq: number;
}

export interface ReadStore {
  open(): Promise<void>;
  close(): Promise<void>;
  get(userKey: string, conv: string): Promise<ReadMarker | undefined>;
  /** Every marker of the user, rooms first, then by name. */
  all(userKey: string): Promise<ReadMarker[]>;
  /** Moves the marker forward; resolves true when it moved (false: it was already at or past seq). */
  advance(userKey: string, marker: ReadMarker): Promise<boolean>;
}

export class MemoryReads implements ReadStore {
  protected readonly markers = new Map<string, Map<string, ReadMarker>>();
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async get(userKey: string, conv: string): Promise<ReadMarker | undefined> {
    return this.markers.get(userKey)?.get(conv);
  }
  async all(userKey: string): Promise<ReadMarker[]> {
    return [...(this.markers.get(userKey)?.values() ?? [])].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
  }
  async advance(userKey: string, marker: ReadMarker): Promise<boolean> {
    if (!this.ahead(userKey, marker)) return false;
    this.apply({ u: userKey, ...marker });
    return true;
  }
  protected ahead(userKey: string, marker: ReadMarker): boolean {
    return (this.markers.get(userKey)?.get(marker.conv)?.seq ?? 0) < marker.seq;
  }
  protected apply(rec: ReadRecord): void {
    let m = this.markers.get(rec.u);
    if (!m) this.markers.set(rec.u, (m = new Map()));
    const old = m.get(rec.conv);
    if (!old || old.seq < rec.seq) m.set(rec.conv, { conv: rec.conv, name: rec.name, seq: rec.seq });
  }
  protected get size(): number {
    let n = 0;
    for (const m of this.markers.values()) n += m.size;
    return n;
  }
}

interface ReadRecord extends ReadMarker {
  u: string;
}

function asReadRecord(v: unknown): ReadRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  return typeof r.u === 'string' && typeof r.conv === 'string' && typeof r.name === 'string' && Number.isSafeInteger(r.seq) && (r.seq as number) >= 1
    ? { u: r.u, conv: r.conv, name: r.name, seq: r.seq as number }
    : undefined;
}

export const READS_FILE = 'reads.log';

export class FileReads extends MemoryReads {
  private readonly file: RecordFile<ReadRecord>;

  constructor(dir: string, warn: (line: string) => void) {
    super();
    this.file = new RecordFile(dir, READS_FILE, asReadRecord, warn);
  }

  override async open(): Promise<void> {
    const lines = this.file.replay((rec) => this.apply(rec));
    if (lines > 2 * this.size + 100) this.file.rewrite(this.records());
    await this.file.open();
  }

  override async close(): Promise<void> {
    await this.file.close();
  }

  override async advance(userKey: string, marker: ReadMarker): Promise<boolean> {
    if (!this.ahead(userKey, marker)) return false;
    await this.file.append({ u: userKey, ...marker });
    // Another session may have moved it further meanwhile: apply keeps the highest.
    const moved = this.ahead(userKey, marker);
    this.apply({ u: userKey, ...marker });
    return moved;
  }

  private *records(): Iterable<ReadRecord> {
    for (const [u, m] of this.markers) for (const marker of m.values()) yield { u, ...marker };
  }
}
