// What this node has seen of each conversation's numbering in Redis: the highest seq and the epoch.
// The store passes the highest seq as the append script's floor (so numbers never go backwards after
// Redis lost data this node saw), and a changed epoch is how the node learns that history was lost.
// Shared by the store (appends, reads) and the bus (notices). Bounded: the least recently touched
// conversations are forgotten first, which only weakens the floor for a conversation nobody here uses.
import type { Logger } from '../log.js';
import type { ConvKey } from '../store/store.js';

interface Seen {
  seq: number;
  epoch: string;
}

export class ConvMemory {
  private readonly convs = new Map<ConvKey, Seen>();

  constructor(
    private readonly log: Logger,
    private readonly max = 100_000,
  ) {}

  floor(conv: ConvKey): number {
    return this.convs.get(conv)?.seq ?? 0;
  }

  /** Records a seq read or written in `epoch`; returns true when the epoch changed (history was lost). */
  saw(conv: ConvKey, seq: number, epoch: string): boolean {
    const prev = this.convs.get(conv);
    if (prev) this.convs.delete(conv);
    else if (this.convs.size >= this.max) this.convs.delete(this.convs.keys().next().value!);
    const lost = prev !== undefined && epoch !== '' && prev.epoch !== '' && prev.epoch !== epoch;
    if (lost) this.log.warn(`redis: the history of ${conv} was lost (epoch ${prev.epoch} -> ${epoch}); numbering continues above ${prev.seq}`);
    this.convs.set(conv, { seq: Math.max(seq, prev?.seq ?? 0), epoch: epoch === '' ? (prev?.epoch ?? '') : epoch });
    return lost;
  }
}
