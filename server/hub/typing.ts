// `typing`: an ephemeral signal, never stored. In a room it goes to the other members (every session
// of the sender is skipped); to a user, to that user's sessions online now (nobody online: nothing to
// tell, and no error). Its own cost class: at most one per second per sender and conversation; extra
// ones are dropped silently (still acknowledged when they carry an id), because a client sends them
// on keystrokes and a refusal would only be noise.
import type { TypingEvent, TypingRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { Outgoing } from '../outgoing.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';

/** The shortest gap between two typing signals of one sender to one conversation. */
export const TYPING_INTERVAL_MS = 1000;
/** Throttle entries kept before the stale ones are swept. */
const SWEEP_AT = 10_000;

export class Typing {
  /** Last signal passed on, by sender identity and conversation. */
  private readonly last = new Map<string, number>();

  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly presence: Presence,
    private readonly now: () => number = Date.now,
  ) {}

  typing(client: RegisteredClient, req: TypingRequest): void | Promise<void> {
    const sender = client.account ? `@${client.key}` : `~${client.id}`;
    if (req.room !== undefined) {
      const room = this.rooms.memberRoom(client, nameKey(req.room));
      if (!room) throw new RequestError('not_member', `join ${req.room} first`);
      if (this.pass(`${sender}\0r:${room.key}`)) this.rooms.publishEphemeral(room, { type: 'typing', room: room.name, name: client.name });
    } else if (req.to !== undefined) {
      const toKey = nameKey(req.to);
      const recipient = this.presence.online(toKey);
      if (!recipient && this.ctx.directory.shared) return this.typingElsewhere(client, req, toKey, sender);
      if (recipient && toKey !== client.key && this.pass(`${sender}\0u:${toKey}`)) this.tell(client, toKey, recipient.name);
    }
    if (req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  /**
   * Cluster mode: the recipient may be online on another server only. The throttle is passed before
   * asking the directory, so a typist costs Redis at most one look-up a second.
   */
  private async typingElsewhere(client: RegisteredClient, req: TypingRequest, toKey: string, sender: string): Promise<void> {
    if (toKey !== client.key && this.pass(`${sender}\0u:${toKey}`)) {
      const remote = (await this.ctx.read('presence', this.ctx.directory.online([toKey]))).get(toKey);
      if (remote && !client.gone) this.tell(client, toKey, remote.name);
    }
    if (req.id !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  private tell(client: RegisteredClient, toKey: string, toName: string): void {
    const event: TypingEvent = { type: 'typing', to: toName, name: client.name };
    this.ctx.bus.publish({ kind: 'user', user: toKey, out: new Outgoing(event) });
  }

  private pass(key: string): boolean {
    const now = this.now();
    const at = this.last.get(key);
    if (at !== undefined && now - at < TYPING_INTERVAL_MS) return false;
    if (this.last.size >= SWEEP_AT) for (const [k, t] of this.last) if (now - t >= TYPING_INTERVAL_MS) this.last.delete(k);
    this.last.set(key, now);
    return true;
  }
}
