// Coalesces writes: every socket written to during one turn of the event loop is corked, and all are
// uncorked together on the next turn, so a burst of events to one socket leaves as one writev rather
// than one syscall each. This is what lets a fan-out approach what the kernel can take.
import type { Socket } from 'node:net';

/** Corked sockets, each with the bytes it still had unsent when this turn first wrote to it. */
const corked = new Map<Socket, number>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const socket of corked.keys()) socket.uncork();
  corked.clear();
}

/**
 * Corks `socket` until the next turn and returns its backlog from before this turn. The slow-consumer
 * rule is judged on that backlog, not on writableLength: within a turn the corked bytes are ours and
 * about to leave (a 1,000-message history reply is one legitimate burst, bounded by the protocol's
 * limits), whereas bytes still queued from earlier turns mean the peer is not reading. So a
 * connection holds at most the bound plus one turn's output.
 */
export function corkUntilNextTurn(socket: Socket): number {
  const backlog = corked.get(socket);
  if (backlog !== undefined) return backlog;
  const before = socket.writableLength;
  socket.cork();
  corked.set(socket, before);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
  return before;
}
