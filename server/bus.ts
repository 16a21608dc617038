// The seam for scale-out: the hub publishes every room event to a bus and delivers what the bus hands
// back to its local members. LocalBus hands it straight back; a Redis pub/sub bus will fan the same
// JSON out to other servers, which deliver it to their own members.
import type { Outgoing } from './outgoing.js';

export type Deliver = (topic: string, event: Outgoing) => void;

export interface Bus {
  /** Registers the hub's local delivery; called once. */
  attach(deliver: Deliver): void;
  publish(topic: string, event: Outgoing): void;
  close(): Promise<void>;
}

export class LocalBus implements Bus {
  private deliver: Deliver = () => {};
  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }
  publish(topic: string, event: Outgoing): void {
    this.deliver(topic, event);
  }
  async close(): Promise<void> {}
}
