// Coalesces writes: every socket written to during one turn of the event loop is corked, and all are
// uncorked together on the next turn, so a burst of events to one socket leaves as one writev rather
// than one syscall each. This is what lets a fan-out approach what the kernel can take.
import type { Socket } from 'node:net';

const corked = new Set<Socket>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

export function corkUntilNextTurn(socket: Socket): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
