// `redis://[user:password@]host:port[/db]`: where a cluster's Redis is and how to log into it. Parsed
// once, at start, so a typo is a start-up error rather than a reconnect loop.

export interface RedisTarget {
  host: string;
  port: number;
  /** AUTH user (Redis 6 ACL); undefined with a password alone (the `default` user). */
  user: string | undefined;
  password: string | undefined;
  db: number;
}

export function parseRedisUrl(raw: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (url.protocol !== 'redis:') throw new Error(`a Redis URL starts with redis:// (got ${url.protocol}//)`);
  if (url.hostname === '') throw new Error('the Redis URL names no host');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw new Error(`the database in a Redis URL is a number (got /${path})`);
  if (url.search !== '' || url.hash !== '') throw new Error('a Redis URL takes no query or fragment');
  const user = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  if (user !== undefined && password === undefined) throw new Error('a Redis URL with a user needs a password (redis://user:password@host)');
  return { host, port, user, password, db: path === '' ? 0 : Number(path) };
}

/** The URL without its password, for logs. */
export function describeTarget(t: RedisTarget): string {
  const auth = t.password === undefined ? '' : `${t.user ?? ''}:***@`;
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `redis://${auth}${host}:${t.port}${t.db === 0 ? '' : `/${t.db}`}`;
}
