// Which messages are this connection's own, coming back. Parley sends a sender its own room messages
// (and DM copies to all of its sessions) before the `ack` that names their seq; IRC shows them only to
// clients that asked for echo-message, and as the response to the command that sent them. So while a
// conversation has sends of this connection in flight, a message from our own name in it is held
// (with everything after it in that conversation, so nothing is shown out of order) until an ack says
// whose it is: the one whose seq the ack names is ours; one that no ack claims came from another
// session of the same account and is shown like anyone's.
import type { ChatMessage } from '../../protocol/messages.js';
import type { Outgoing } from '../outgoing.js';

export interface EchoSink<T> {
  /** Show a message as it is (someone else's, or another session's). */
  show(out: Outgoing): void;
  /** The message this connection sent as `own` came back. */
  echo(own: T, out: Outgoing, m: ChatMessage): void;
}

interface Held {
  out: Outgoing;
  m: ChatMessage;
  mine: boolean;
}

export class EchoMatcher<T> {
  /** Sends waiting for their ack, per conversation (`#room` / `@user` key). */
  private readonly inFlight = new Map<string, T[]>();
  private readonly held = new Map<string, Held[]>();

  constructor(private readonly sink: EchoSink<T>) {}

  /** This connection sent `own` into `conv`. */
  sent(conv: string, own: T): void {
    const list = this.inFlight.get(conv);
    if (list) list.push(own);
    else this.inFlight.set(conv, [own]);
  }

  /** A message of `conv` arrived; `mine` when it is from this connection's user. */
  message(conv: string, out: Outgoing, m: ChatMessage, mine: boolean): void {
    const held = this.held.get(conv);
    if (held) held.push({ out, m, mine });
    else if (mine && this.inFlight.has(conv)) this.held.set(conv, [{ out, m, mine }]);
    else this.sink.show(out);
  }

  /** `own` was acked with `seq`, or refused (undefined): held messages go out as far as they can. */
  settled(conv: string, own: T, seq: number | undefined): void {
    const sends = this.inFlight.get(conv);
    if (sends) {
      sends.splice(sends.indexOf(own), 1);
      if (sends.length === 0) this.inFlight.delete(conv);
    }
    const held = this.held.get(conv);
    if (!held) return;
    let claimed = seq === undefined;
    while (held.length > 0) {
      const h = held[0]!;
      if (h.mine && !claimed && h.m.seq === seq) {
        held.shift();
        claimed = true;
        this.sink.echo(own, h.out, h.m);
        continue;
      }
      // An own message no ack has claimed yet waits while a send is still in flight.
      if (h.mine && this.inFlight.has(conv)) break;
      held.shift();
      this.sink.show(h.out);
    }
    if (held.length === 0) this.held.delete(conv);
  }
}
