// The RESP client against a real redis-server: pipelining, errors as values, EVALSHA falling back to
// EVAL after SCRIPT FLUSH, AUTH and SELECT from the URL, every command in flight refused when the
// connection drops, nothing queued while Redis is down, reconnect (back-off capped at 2 s), and the
// subscriber resubscribing after CLIENT KILL TYPE pubsub.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asArray, RedisClient, RedisReplyError, RedisUnavailable, Script } from '../../server/redis/client.js';
import { RedisSubscriber } from '../../server/redis/subscriber.js';
import { parseRedisUrl } from '../../server/redis/url.js';
import { silentLogger } from '../../server/log.js';
import { skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const skip = skipWithoutRedis('Redis client tests');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skip)('RedisClient against redis-server', () => {
  let redis: TestRedis;
  let client: RedisClient;
  beforeAll(async () => {
    redis = await startRedis({ password: 'p@ss word' });
    client = new RedisClient({ target: parseRedisUrl(`${redis.url}/3`), name: 'test', log: silentLogger, commandTimeoutMs: 1000 });
    await client.ready(5000);
  });
  afterAll(async () => {
    client?.close();
    await redis?.kill();
  });

  it('logs in with the password from the URL and selects the database', async () => {
    await client.command(['SET', 'where', 'db3']);
    expect(redis.cli('-n', '3', 'GET', 'where').trim()).toBe('db3');
    expect(redis.cli('-n', '0', 'GET', 'where').trim()).toBe('');
  });

  it('pipelines 10,000 commands and matches every reply to its command', async () => {
    const replies = await Promise.all(Array.from({ length: 10_000 }, (_, i) => client.command(['INCR', 'counter']).then((v) => [i, v] as const)));
    for (const [i, v] of replies) expect(v).toBe(i + 1);
  });

  it('an error reply rejects that command only; its neighbours succeed', async () => {
    await client.command(['SET', 'str', 'x']);
    const results = await Promise.allSettled([client.command(['GET', 'str']), client.command(['LPUSH', 'str', 'y']), client.command(['GET', 'str'])]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'x' });
    expect(results[1].status).toBe('rejected');
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RedisReplyError);
    expect(((results[1] as PromiseRejectedResult).reason as RedisReplyError).code).toBe('WRONGTYPE');
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'x' });
  });

  it('nested replies and errors inside arrays come back as values', async () => {
    const exec = await Promise.all([client.command(['MULTI']), client.command(['SET', 'a', '1']), client.command(['LPUSH', 'a', '2']), client.command(['EXEC'])]);
    const replies = asArray(exec[3]);
    expect(replies[0]).toBe('OK');
    expect((replies[1] as { code: string }).code).toBe('WRONGTYPE');
  });

  it('runs a script by SHA, and by EVAL when Redis has forgotten it', async () => {
    const script = new Script('echo', "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
    expect(await client.eval(script, ['sk'], ['hi'])).toEqual(['sk', 'hi', 1]);
    await client.command(['SCRIPT', 'FLUSH']);
    expect(await client.eval(script, ['sk'], ['again'])).toEqual(['sk', 'again', 2]);
    // EVAL loaded it: the SHA works again.
    expect(await client.command(['EVALSHA', script.sha, 1, 'sk', 'x'])).toEqual(['sk', 'x', 3]);
  });

  it('a connection killed under it rejects every command in flight, refuses new ones at once, and comes back', async () => {
    // BLPOP keeps a command in flight for as long as we like.
    const inFlight = [client.command(['BLPOP', 'never', '10']), client.command(['PING'])];
    await until('command in flight', () => client.inFlight >= 1);
    redis.cli('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    for (const r of await Promise.allSettled(inFlight)) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RedisUnavailable);
    }
    await until('reconnected', () => client.connected);
    expect(await client.command(['PING'])).toBe('PONG');
  });

  it('a command unanswered within the timeout drops the connection and is refused', async () => {
    const started = Date.now();
    // CLIENT PAUSE makes Redis hold every reply: the watchdog must give up after ~1 s.
    await client.command(['CLIENT', 'PAUSE', '1500', 'ALL']);
    const err = await client.command(['GET', 'a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailable);
    expect(Date.now() - started).toBeLessThan(1900);
    await until('reconnected after the pause', async () => client.connected && (await client.command(['PING']).catch(() => '')) === 'PONG', 8000);
  });

  it('while Redis is down nothing is queued: commands fail at once; reconnect follows within the back-off cap', async () => {
    // Its own client with a 200 ms cap (the default is 2 s, the same code): the test need not wait for
    // a 2 s cap to be reached, and an uncapped back-off would by then be 1.6 s or more.
    const capped = new RedisClient({ target: parseRedisUrl(`${redis.url}/3`), name: 'capped', log: silentLogger, maxBackoffMs: 200 });
    try {
      await capped.ready(5000);
      await redis.kill();
      await until('down', () => !client.connected && !capped.connected);
      const t0 = Date.now();
      await expect(client.command(['PING'])).rejects.toBeInstanceOf(RedisUnavailable);
      expect(Date.now() - t0).toBeLessThan(50);
      // Let the back-off grow past the cap (uncapped, the next attempt would be 1.6-3.2 s away by now).
      await new Promise((r) => setTimeout(r, 2000));
      await redis.restart();
      const back = Date.now();
      await until('reconnected', () => capped.connected, 5000);
      expect(Date.now() - back).toBeLessThan(1200);
      expect(await capped.command(['PING'])).toBe('PONG');
      await until('the default client reconnected too', () => client.connected, 5000);
    } finally {
      capped.close();
    }
  });
});

describe.skipIf(skip)('RedisClient script preloading', () => {
  it('loads its scripts as part of every connection, so EVALSHA after a Redis restart never meets NOSCRIPT', async () => {
    const redis = await startRedis();
    const script = new Script('p', "return redis.call('INCR', KEYS[1])");
    const c = new RedisClient({ target: parseRedisUrl(redis.url), name: 'pre', log: silentLogger, scripts: [script] });
    try {
      await c.ready(5000);
      expect(await c.command(['SCRIPT', 'EXISTS', script.sha])).toEqual([1]);
      await redis.restart();
      await until('reconnected', () => c.connected, 5000);
      expect(await c.command(['SCRIPT', 'EXISTS', script.sha])).toEqual([1]);
      expect(await c.command(['EVALSHA', script.sha, 1, 'k'])).toBe(1);
    } finally {
      c.close();
      await redis.kill();
    }
  });
});

describe.skipIf(skip)('RedisSubscriber against redis-server', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.kill();
  });

  it('receives messages, and after CLIENT KILL TYPE pubsub reports the loss, resubscribes and receives again', async () => {
    const got: string[] = [];
    const events: string[] = [];
    const sub = new RedisSubscriber(
      { target: parseRedisUrl(redis.url), name: 'sub', log: silentLogger, channels: ['a', 'b'] },
      { message: (ch, p) => got.push(`${ch}:${p}`), subscribed: () => events.push('subscribed'), lost: () => events.push('lost') },
    );
    const pub = new RedisClient({ target: parseRedisUrl(redis.url), name: 'pub', log: silentLogger });
    try {
      await pub.ready(5000);
      await until('subscribed', () => sub.subscribed);
      await pub.command(['PUBLISH', 'a', '1']);
      await pub.command(['PUBLISH', 'b', '2']);
      await until('two messages', () => got.length === 2);
      redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until('lost and back', () => events.join(',') === 'subscribed,lost,subscribed');
      await pub.command(['PUBLISH', 'a', '3']);
      await until('third message', () => got.length === 3);
      expect(got).toEqual(['a:1', 'b:2', 'a:3']);
    } finally {
      sub.close();
      pub.close();
    }
  });

  it('a silent connection (no pong in time) is dropped and subscribed again: a cut network cannot leave it deaf', async () => {
    const events: string[] = [];
    const sub = new RedisSubscriber(
      { target: parseRedisUrl(redis.url), name: 'sub-ping', log: silentLogger, channels: ['p'], pingMs: 200 },
      { message: () => undefined, subscribed: () => events.push('subscribed'), lost: () => events.push('lost') },
    );
    const admin = new RedisClient({ target: parseRedisUrl(redis.url), name: 'admin', log: silentLogger });
    try {
      await admin.ready(5000);
      await until('subscribed', () => sub.subscribed);
      // Redis holds every reply (the pongs too) for 1.5 s: to the subscriber, a dead path.
      const t0 = Date.now();
      await admin.command(['CLIENT', 'PAUSE', '1500', 'ALL']);
      await until('lost', () => events.includes('lost'), 3000);
      expect(Date.now() - t0).toBeLessThan(1200);
      await until('subscribed again', () => events.join(',') === 'subscribed,lost,subscribed', 8000);
    } finally {
      sub.close();
      admin.close();
    }
  });
});

