// Cluster mode's composition: from one Redis URL, the command connection, the subscriber, and the
// Redis implementations of the hub's seams (store, bus, accounts, topics, read markers, directory).
// server.ts chooses between this and the embedded ones; nothing else knows which it got.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AccountStore } from '../accounts/account-store.js';
import type { Bus } from '../bus.js';
import type { Directory } from '../hub/directory.js';
import type { ReadStore } from '../kv/read-markers.js';
import type { TopicStore } from '../kv/room-topics.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { RedisClient } from './client.js';
import { ConvMemory } from './conv-memory.js';
import { channels } from './keys.js';
import { PRESENCE_SCRIPTS } from './presence-scripts.js';
import { ACCOUNT_SCRIPTS, RedisAccounts } from './redis-accounts.js';
import { RedisBus } from './redis-bus.js';
import { RedisDirectory } from './redis-directory.js';
import { ADVANCE_READ, RedisReads } from './redis-reads.js';
import { RedisStore } from './redis-store.js';
import { RedisTopics } from './redis-topics.js';
import { AMEND, APPEND, COMPACT_AMENDS } from './scripts.js';
import { RedisSubscriber } from './subscriber.js';
import { describeTarget, parseRedisUrl } from './url.js';

export interface ClusterOptions {
  url: string;
  historyPerRoom: number;
  log: Logger;
  /** The heartbeat promise of this node (default NODE_TTL_MS). */
  nodeTimeoutMs?: number;
  /** How long start-up waits for Redis. */
  connectWaitMs?: number;
}

export interface Cluster {
  node: string;
  store: Store;
  bus: Bus;
  accounts: AccountStore;
  topics: TopicStore;
  reads: ReadStore;
  directory: Directory;
  /** For /healthz: degraded while either connection to Redis is down. */
  health(): { status: 'ok' | 'degraded'; redis: { url: string; connected: boolean; subscribed: boolean; inFlight: number } };
  close(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const target = parseRedisUrl(opts.url);
  const node = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  // Every script is loaded as part of each (re)connection, so EVALSHA never meets an empty cache.
  const redis = new RedisClient({ target, name: `parley-${node}`, log: opts.log, scripts: [APPEND, AMEND, COMPACT_AMENDS, ADVANCE_READ, ...ACCOUNT_SCRIPTS, ...PRESENCE_SCRIPTS] });
  try {
    await redis.ready(opts.connectWaitMs ?? 10_000);
  } catch (err) {
    redis.close();
    throw new Error(`cannot reach Redis at ${describeTarget(target)}: ${(err as Error).message}`);
  }
  const memory = new ConvMemory(opts.log);
  const bus = new RedisBus(redis, node, memory, opts.log);
  const subscriber = new RedisSubscriber(
    { target, name: `parley-${node}-sub`, log: opts.log, channels: [channels.notices, channels.events] },
    {
      message: (channel, payload) => bus.message(channel, payload),
      subscribed: () => bus.resubscribed(),
      lost: (reason) => opts.log.warn(`redis: subscription lost (${reason}); will refill once back`),
    },
  );
  const store = new RedisStore({ redis, memory, historyPerRoom: opts.historyPerRoom, log: opts.log });
  const directory = new RedisDirectory(redis, node, bus, opts.log, opts.nodeTimeoutMs);
  await directory.start();
  opts.log.info(`cluster node ${node} on ${describeTarget(target)}`);
  return {
    node,
    store,
    bus,
    accounts: new RedisAccounts(redis),
    topics: new RedisTopics(redis),
    reads: new RedisReads(redis),
    directory,
    health: () => {
      const connected = redis.connected;
      const subscribed = subscriber.subscribed;
      return { status: connected && subscribed ? 'ok' : 'degraded', redis: { url: describeTarget(target), connected, subscribed, inFlight: redis.inFlight } };
    },
    close: async () => {
      await directory.stop();
      subscriber.close();
      redis.close();
    },
  };
}
