// Coalesces writes: every socket written to during one turn of the event loop is corked, and all are
// uncorked together on the next turn, so a burst of events to one socket leaves as one writev rather
// than one syscall each. This is what lets a fan-out approach what the kernel can take.
import type { Socket } from 'node:net';

// Per-socket turn state lives on the socket itself. A Map<Socket, number> cleared every turn was the
// first version: re-growing its table each turn cost the chatty benchmark 1-2 ms of p99 latency
// (docs/benchmarks.md), while two numbers on the socket cost nothing to reset — the turn counter moves.
const kTurn = Symbol('parley.corkTurn');
const kBacklog = Symbol('parley.corkBacklog');

interface CorkableSocket extends Socket {
  [kTurn]?: number;
  [kBacklog]?: number;
}

/** Which turn we are in; a socket whose kTurn equals it is already corked. */
let turn = 1;
let scheduled = false;
/** Sockets corked this turn: a reused array with its own length, so a turn allocates nothing. */
const corked: (Socket | undefined)[] = [];
let corkedCount = 0;

function flush(): void {
  scheduled = false;
  turn++;
  const n = corkedCount;
  corkedCount = 0;
  for (let i = 0; i < n; i++) {
    corked[i]!.uncork();
    corked[i] = undefined;
  }
}

/**
 * Corks `socket` until the next turn and returns its backlog from before this turn. The slow-consumer
 * rule is judged on that backlog, not on writableLength: within a turn the corked bytes are ours and
 * about to leave (a 1,000-message history reply is one legitimate burst, bounded by the protocol's
 * limits), whereas bytes still queued from earlier turns mean the peer is not reading. So a
 * connection holds at most the bound plus one turn's output.
 */
export function corkUntilNextTurn(socket: Socket): number {
  const s = socket as CorkableSocket;
  if (s[kTurn] === turn) return s[kBacklog]!;
  const before = s.writableLength;
  s[kTurn] = turn;
  s[kBacklog] = before;
  s.cork();
  corked[corkedCount++] = s;
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
  return before;
}
