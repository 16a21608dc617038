// The response to one client command. Unlabelled, its lines go out as they are made. Labelled
// (https://ircv3.net/specs/extensions/labeled-response), they are kept until every part of the response
// is in (a command may wait on several hub replies) and then sent as the spec asks: none → ACK, one
// line → that line with the label, one batch → the label on its BATCH +, more → a labeled-response
// batch around them all. Lines that are not part of the response (other people's messages arriving
// meanwhile) never wait for it.
import { escapeTagValue, formatLine, withTag } from './message.js';

/** What a Reply writes through. */
export interface ReplySink {
  /** One line without CR LF. */
  write(line: string): void;
  nextBatchId(): string;
  /** The client negotiated `batch`. */
  readonly batches: boolean;
  readonly serverName: string;
}

interface Entry {
  line: string;
  /** Inside a batch of this response: it already carries that batch's tag. */
  nested: boolean;
}

export class Reply {
  private readonly entries: Entry[] | undefined;
  /** Parts still to come: the command itself, then one per hub reply waited for. */
  private open = 1;
  private plainLines = 0;
  private batchCount = 0;

  constructor(
    private readonly sink: ReplySink,
    /** The client's label, when it negotiated labeled-response and sent one. */
    readonly label: string | undefined,
    /** NOTICE: errors are never answered (RFC 2812 3.3.2). */
    readonly quiet = false,
  ) {
    if (label !== undefined) this.entries = [];
  }

  line(line: string): void {
    this.plainLines++;
    if (this.entries) this.entries.push({ line, nested: false });
    else this.sink.write(line);
  }

  /** An error reply: dropped for a quiet (NOTICE) command. */
  error(line: string): void {
    if (!this.quiet) this.line(line);
  }

  /** A whole batch of `type`; without the batch cap its lines are sent bare. */
  batch(type: string, params: readonly string[], lines: readonly string[]): void {
    if (!this.sink.batches) {
      for (const l of lines) this.line(l);
      return;
    }
    const id = this.sink.nextBatchId();
    const server = this.sink.serverName;
    const all = [formatLine(server, 'BATCH', [`+${id}`, type, ...params]), ...lines.map((l) => withTag(l, `batch=${id}`)), formatLine(server, 'BATCH', [`-${id}`])];
    this.batchCount++;
    if (this.entries) {
      this.entries.push({ line: all[0]!, nested: false });
      for (let i = 1; i < all.length - 1; i++) this.entries.push({ line: all[i]!, nested: true });
      this.entries.push({ line: all[all.length - 1]!, nested: false });
    } else {
      for (const l of all) this.sink.write(l);
    }
  }

  /** One more part to wait for. */
  hold(): void {
    this.open++;
  }

  /** One part is in; the last one sends a labelled response. */
  release(): void {
    if (--this.open === 0) this.finish();
  }

  get done(): boolean {
    return this.open <= 0;
  }

  private finish(): void {
    const entries = this.entries;
    if (!entries || this.label === undefined) return;
    const label = `label=${escapeTagValue(this.label)}`;
    const server = this.sink.serverName;
    if (entries.length === 0) return this.sink.write(withTag(formatLine(server, 'ACK', []), label));
    if (entries.length === 1 || (this.plainLines === 0 && this.batchCount === 1) || !this.sink.batches) {
      // One line, or one batch (the label goes on its BATCH +), or a client that cannot take a batch.
      this.sink.write(withTag(entries[0]!.line, label));
      for (let i = 1; i < entries.length; i++) this.sink.write(entries[i]!.line);
      return;
    }
    const id = this.sink.nextBatchId();
    this.sink.write(withTag(formatLine(server, 'BATCH', [`+${id}`, 'labeled-response']), label));
    for (const e of entries) this.sink.write(e.nested ? e.line : withTag(e.line, `batch=${id}`));
    this.sink.write(formatLine(server, 'BATCH', [`-${id}`]));
  }
}
