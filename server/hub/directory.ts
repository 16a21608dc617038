// Who is online, under which name, and in which rooms, beyond this server: the seam for presence
// across cluster nodes. The hub keeps its own sessions itself (presence.ts, rooms.ts) and asks the
// directory only about the rest of the cluster: whether a name may be taken (a lease, so two nodes
// cannot both admit "alice"), who is online elsewhere, and who is in a room elsewhere. The default,
// LocalDirectory, knows of no other server, so a single server behaves exactly as before.
import type { RequestError } from './context.js';

export interface RemoteUser {
  name: string;
  account: boolean;
  /** Its identity in live DMs (a guest's is its one session, an account's its name). */
  live: string;
  away?: string;
}

export interface RemoteMember {
  name: string;
  guest: boolean;
  away?: string;
}

export interface Directory {
  /**
   * Holds the name for one more session (`session`: unique on this server) across the cluster.
   * Resolves with undefined when granted, or the error to answer (name_taken) when another user holds
   * the name or an online user elsewhere has a look-alike one. A failure to ask is thrown (unavailable).
   */
  claim(session: number, key: string, name: string, account: boolean): Promise<RequestError | undefined>;
  /** The session is gone. Not awaited. */
  release(session: number): void;
  /** Users online on any server (this one included) among `keys`. */
  online(keys: readonly string[]): Promise<Map<string, RemoteUser>>;
  /** The next seq of a live-only DM conversation between this session's user and one online elsewhere. */
  nextLiveSeq(session: number, key: string, account: boolean, other: RemoteUser): Promise<number>;
  /** The user's away message changed (undefined: back). Not awaited. */
  setAway(key: string, text: string | undefined): void;
  /** A session entered / left a room. Not awaited. */
  joinedRoom(session: number, roomKey: string, roomName: string, name: string, guest: boolean): void;
  leftRoom(session: number, roomKey: string): void;
  /** Members of a room on the other servers (not this one), each user once. */
  roomMembers(roomKey: string): Promise<RemoteMember[]>;
  /** Rooms with members on other servers: key, display name, and those members' user keys. */
  activeRooms(): Promise<{ key: string; name: string; users: string[] }[]>;
  /** False for LocalDirectory: the hub's own view is the whole truth and nothing need be asked. */
  readonly shared: boolean;
}

export class LocalDirectory implements Directory {
  readonly shared = false;
  async claim(): Promise<RequestError | undefined> {
    return undefined;
  }
  release(): void {}
  async online(): Promise<Map<string, RemoteUser>> {
    return new Map();
  }
  async nextLiveSeq(): Promise<number> {
    throw new Error('no other server to message');
  }
  setAway(): void {}
  joinedRoom(): void {}
  leftRoom(): void {}
  async roomMembers(): Promise<RemoteMember[]> {
    return [];
  }
  async activeRooms(): Promise<{ key: string; name: string; users: string[] }[]> {
    return [];
  }
}
