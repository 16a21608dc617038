// A stand-in for the hub's side of one connection, for transport tests that must not depend on the
// hub: it records what the transport hands it, in order, and closes on a fatal rejection as the hub
// does (unless told not to).
import { expect, vi } from 'vitest';
import type { ErrorCode } from '../../protocol/errors.js';
import type { Request, RequestId } from '../../protocol/messages.js';
import type { Peer, Session } from '../../server/peer.js';

export class FakeSession implements Session {
  readonly received: Request[] = [];
  readonly rejected: { code: ErrorCode; message: string; re?: RequestId; fatal?: boolean }[] = [];
  drainedCount = 0;
  disconnectedCount = 0;
  /** When the last rejection came (performance.now()): timing tests measure from it, not from a poll. */
  lastRejectAt = 0;
  /** Called after each request is recorded: tests pause, resume or close from here. */
  onReceive: (req: Request) => void = () => {};
  closeOnFatal = true;

  constructor(readonly peer: Peer) {}

  receive(req: Request): void {
    this.received.push(req);
    this.onReceive(req);
  }

  reject(code: ErrorCode, message: string, re?: RequestId, fatal?: boolean): void {
    this.rejected.push(re === undefined && fatal === undefined ? { code, message } : { code, message, re, fatal });
    this.lastRejectAt = performance.now();
    if (fatal && this.closeOnFatal) this.peer.close(code);
  }

  drained(): void {
    this.drainedCount++;
  }

  disconnected(): void {
    this.disconnectedCount++;
  }
}

/** A connect function for a transport, and a way to wait for the session of the n-th connection. */
export function fakeHub(): { connect: (peer: Peer) => FakeSession; sessions: FakeSession[]; session(n: number): Promise<FakeSession> } {
  const sessions: FakeSession[] = [];
  return {
    sessions,
    connect: (peer) => {
      const s = new FakeSession(peer);
      sessions.push(s);
      return s;
    },
    async session(n) {
      await vi.waitFor(() => expect(sessions.length).toBeGreaterThan(n), { timeout: 10_000 });
      return sessions[n]!;
    },
  };
}
