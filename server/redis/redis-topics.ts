// Room topics on Redis: one hash, room key -> JSON, shared by every node.
import type { Topic, TopicStore } from '../kv/room-topics.js';
import { asString, type RedisClient } from './client.js';
import { keys } from './keys.js';

export class RedisTopics implements TopicStore {
  constructor(private readonly redis: RedisClient) {}

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(roomKey: string): Promise<Topic | undefined> {
    const raw = asString(await this.redis.command(['HGET', keys.topics, roomKey]));
    if (raw === null) return undefined;
    try {
      const t = JSON.parse(raw) as Partial<Topic>;
      return typeof t.text === 'string' && typeof t.by === 'string' && typeof t.ts === 'string' ? { text: t.text, by: t.by, ts: t.ts } : undefined;
    } catch {
      return undefined;
    }
  }

  async set(roomKey: string, topic: Topic): Promise<void> {
    if (topic.text === '') await this.redis.command(['HDEL', keys.topics, roomKey]);
    else await this.redis.command(['HSET', keys.topics, roomKey, JSON.stringify(topic)]);
  }
}
