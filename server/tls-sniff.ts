// Tells a TLS client from a plaintext one on a port that speaks TLS, by its first byte: every TLS
// connection opens with a handshake record (content type 22), while a chat client that forgot --tls
// starts with `{` and a browser on http:// with a method name. The plaintext ones are answered in
// plaintext (the listener says what), so they fail at once with a reason instead of hanging in a TLS
// handshake neither side will finish; a client that sends nothing at all is closed after a timeout.
import type { Socket } from 'node:net';

/** The TLS record type of a handshake (RFC 8446 5.1): the first byte of every ClientHello. */
export const TLS_HANDSHAKE_RECORD = 0x16;

/** How long a refused client gets to read its answer before the socket is destroyed anyway. */
export const REFUSAL_LINGER_MS = 2000;

export interface SniffHandlers {
  /** The client speaks TLS. Its first bytes are back in the socket, unread, for a TLSSocket to take. */
  tls(socket: Socket): void;
  /** The client speaks plaintext; `first` holds its first bytes. */
  plaintext(socket: Socket, first: Buffer): void;
}

function silent(this: Socket): void {
  this.destroy();
}

function ignore(): void {}

/** Waits for the first bytes of `socket` and hands it to one of the handlers (or closes it when silent). */
export function sniffTls(socket: Socket, timeoutMs: number, handlers: SniffHandlers): void {
  socket.on('error', ignore);
  socket.setTimeout(timeoutMs, silent);
  socket.once('data', (chunk: Buffer) => {
    socket.setTimeout(0, silent);
    socket.off('timeout', silent);
    socket.pause();
    if (chunk[0] === TLS_HANDSHAKE_RECORD) {
      // A TLSSocket made now reads what is buffered first (Node's initRead), so nothing is lost.
      socket.unshift(chunk);
      handlers.tls(socket);
    } else handlers.plaintext(socket, chunk);
  });
}

/**
 * Writes a last answer and closes: the client's further bytes are read and dropped (so its FIN is
 * seen), and a client that never closes is destroyed after REFUSAL_LINGER_MS.
 */
export function answerAndClose(socket: Socket, answer: string): void {
  if (socket.destroyed) return;
  socket.on('error', ignore);
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer);
  socket.resume();
}
