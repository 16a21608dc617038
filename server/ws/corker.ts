// Coalesces writes: every socket written to during one turn of the event loop is corked, and all are
// uncorked together on the next turn, so a burst of events to one socket leaves as one writev rather
// than one syscall each. This is what lets a fan-out approach what the kernel can take.
//
// While corked, what a turn wrote is already counted in socket.writableLength, so a connection's
// unsent bytes (and the slow-consumer bound judged on them) include this turn's.
import type { Writable } from 'node:stream';

// Per-socket turn state lives on the socket itself. A Map<Socket, number> cleared every turn was the
// first version: re-growing its table each turn cost the chatty benchmark 1-2 ms of p99 latency
// (docs/benchmarks.md), while a number on the socket costs nothing to reset — the turn counter moves.
const kTurn = Symbol('parley.corkTurn');

interface CorkableSocket extends Writable {
  [kTurn]?: number;
}

/** Which turn we are in; a socket whose kTurn equals it is already corked. */
let turn = 1;
let scheduled = false;
/** Sockets corked this turn: a reused array with its own length, so a turn allocates nothing. */
const corked: (Writable | undefined)[] = [];
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
 * Corks `socket` until the next turn, unless it already is. Call before each write. Any Writable will
 * do: a socket, a TLS socket, an HTTP/2 stream.
 */
export function corkUntilNextTurn(socket: Writable): void {
  const s = socket as CorkableSocket;
  if (s[kTurn] === turn) return;
  s[kTurn] = turn;
  s.cork();
  corked[corkedCount++] = s;
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
