// Read markers: `read {room|with, seq}` moves the user's marker of one conversation forward (never
// back) and tells the user's OTHER sessions (on any server), so unread counts agree on every device.
// An account's markers are stored (kv/read-markers.ts) and given back: a room's to its joiner right
// after `members` (and the topic), all of them by `reads`. A guest's are kept for its session only.
import type { ReadEvent, ReadMarkerInfo, ReadRequest, ReadsRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { ReadMarker } from '../kv/read-markers.js';
import { Outgoing } from '../outgoing.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Messaging } from './messaging.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';

export class Reads {
  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly presence: Presence,
    private readonly messaging: Messaging,
  ) {}

  async read(client: RegisteredClient, req: ReadRequest): Promise<void> {
    let marker: ReadMarker;
    if (req.room !== undefined) {
      const room = this.rooms.memberRoom(client, nameKey(req.room));
      if (!room) throw new RequestError('not_member', `join ${req.room} first`);
      // A marker past the last message would hide the next ones as read: it stops at the last.
      marker = { conv: `r:${room.key}`, name: room.name, seq: Math.min(req.seq, room.lastSeq) };
    } else {
      const otherKey = nameKey(req.with!);
      const account = await this.ctx.read('accounts', this.ctx.accounts.get(otherKey));
      const name = account?.name ?? (await this.presence.knownName(otherKey));
      if (name === undefined) throw this.presence.noSuchUser(req.with!);
      let seq = req.seq;
      if (client.account && account) {
        const conv = await this.messaging.conversation(client.key, otherKey);
        seq = Math.min(seq, await this.ctx.read('the conversation', this.ctx.store.lastSeq(conv)));
      }
      marker = { conv: `w:${otherKey}`, name, seq };
    }
    if (client.gone) return;
    let moved = false;
    if (marker.seq >= 1) {
      if (client.account) moved = await this.ctx.read('read markers', this.ctx.reads.advance(client.key, marker));
      else {
        const old = client.reads?.get(marker.conv);
        if ((moved = !old || old.seq < marker.seq)) (client.reads ??= new Map()).set(marker.conv, marker);
      }
    }
    if (moved) {
      const out = new Outgoing(eventOf(marker));
      // An account's sessions may be on other servers (cluster mode): the bus reaches them all. A
      // guest's marker is its session's alone.
      if (client.account) this.ctx.bus.publish({ kind: 'user', user: client.key, out, except: client.id });
    }
    if (req.id !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  async list(client: RegisteredClient, req: ReadsRequest): Promise<void> {
    const all = client.account ? await this.ctx.read('read markers', this.ctx.reads.all(client.key)) : [...(client.reads?.values() ?? [])];
    if (!client.gone) this.ctx.reply(client, { type: 'reads', markers: all.map(infoOf) }, req.id);
  }
}

function infoOf(m: ReadMarker): ReadMarkerInfo {
  return m.conv.startsWith('r:') ? { room: m.name, seq: m.seq } : { with: m.name, seq: m.seq };
}

function eventOf(m: ReadMarker): ReadEvent {
  return { type: 'read', ...infoOf(m) };
}
