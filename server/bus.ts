// The seam for scale-out: every event that concerns more than the one connection that caused it goes
// through the bus, typed and with its conversation and seq, and each server delivers what the bus
// hands back to its own connections. LocalBus hands it straight back; a Redis bus will carry the same
// events to other servers, which can keep their rooms, presence and DM delivery from the bus alone.
import type { Outgoing } from './outgoing.js';
import type { ConvKey } from './store/store.js';

export type BusEvent =
  /** For every member of a room (room key). `seq` for chat messages, so a receiver can spot a gap. */
  | { kind: 'room'; room: string; conv: ConvKey; seq?: number; out: Outgoing }
  /**
   * For every connection of one user (user key): direct messages, and their echo to the sender.
   * `except`: a session of this server that already knows (the one that moved a read marker); other
   * servers have no such session, so a bus between servers does not carry it.
   */
  | { kind: 'user'; user: string; conv?: ConvKey; seq?: number; out: Outgoing; except?: number }
  /**
   * Every session of an account ends, but `except` (as for `user`): its password changed or it logged
   * out everywhere. Each server closes its own with bad_credentials and `why`.
   */
  | { kind: 'end-sessions'; user: string; why: string; except?: number }
  /** A user came online or went offline (all of their connections). */
  | { kind: 'presence'; user: string; name: string; online: boolean }
  /**
   * Events may have been missed (a Redis bus has just (re)subscribed): every room with members here
   * refills from the store before delivering more. LocalBus never misses anything, so never sends it.
   */
  | { kind: 'resync' };

export type Deliver = (event: BusEvent) => void;

export interface Bus {
  /** Registers the hub's local delivery; called once. */
  attach(deliver: Deliver): void;
  publish(event: BusEvent): void;
  close(): Promise<void>;
}

export class LocalBus implements Bus {
  private deliver: Deliver = () => {};
  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }
  publish(event: BusEvent): void {
    this.deliver(event);
  }
  async close(): Promise<void> {}
}
