// How a store numbers a conversation's messages: seq = the last one handed out + 1, ts = now but
// never earlier than the previous message's (ISO UTC strings of one width compare like times). A
// refused message hands its number back, and so does every message numbered after it — they are
// refused with it, oldest first — so the next message takes the lowest unused seq and nobody ever
// sees a gap.
export interface Numbering {
  /** Highest seq handed out, stored or still being written. */
  assigned: number;
  /** Highest stored (readable) seq: what lastSeq reports. */
  stored: number;
  /** ts of the newest message handed out. */
  lastTs: string;
}

/** The ISO string of the current millisecond, built once per millisecond (it costs ~1 us to build). */
let isoMs = -1;
let iso = '';
function nowIso(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

export function stamp(n: Numbering): { seq: number; ts: string } {
  const now = nowIso();
  if (now > n.lastTs) n.lastTs = now;
  return { seq: ++n.assigned, ts: n.lastTs };
}

/** Message `seq` was refused. Later ones of the conversation are refused after it (append order). */
export function handBack(n: Numbering, seq: number): void {
  n.assigned = Math.min(n.assigned, seq - 1);
}
