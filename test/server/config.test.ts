import { describe, expect, it } from 'vitest';
import { helpText, parseConfig } from '../../server/config.js';

describe('parseConfig', () => {
  it('has the documented defaults', () => {
    const r = parseConfig([], {});
    expect(r).toMatchObject({
      ok: true,
      config: { host: '0.0.0.0', tcpPort: 9000, httpPort: 8080, maxMessageBytes: 65536, deflate: true, fsync: 'batch', memory: false, dataDir: './data' },
    });
  });
  it('reads PARLEY_* and lets flags win', () => {
    const r = parseConfig(['--tcp-port', '9100'], { PARLEY_TCP_PORT: '9200', PARLEY_HOST: '127.0.0.1' });
    expect(r).toMatchObject({ ok: true, config: { tcpPort: 9100, host: '127.0.0.1' } });
  });
  it('accepts --flag=value, --no-deflate and booleans', () => {
    const r = parseConfig(['--http-port=0', '--no-deflate', '--memory', '--allowed-origins', 'http://a.example, http://b.example'], {});
    expect(r).toMatchObject({ ok: true, config: { httpPort: 0, deflate: false, memory: true, allowedOrigins: ['http://a.example', 'http://b.example'] } });
  });
  const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--tcp-port', '70000'], {}, /from 0 to 65535/],
    [['--tcp-port', 'x'], {}, /whole number/],
    [['--tcp-port'], {}, /needs a value/],
    [['--bogus'], {}, /unknown flag --bogus/],
    [['stray'], {}, /unexpected argument/],
    [['--fsync', 'sometimes'], {}, /always, batch, off/],
    [['--log-level', 'loud'], {}, /one of/],
    [[], { PARLEY_MEMORY: 'maybe' }, /PARLEY_MEMORY must be true or false/],
    [['--no-deflate=1'], {}, /takes no value/],
    [['--tls-cert', 'c.pem'], {}, /--tls-cert and --tls-key go together/],
    [[], { PARLEY_TLS_KEY: 'k.pem' }, /--tls-cert and --tls-key go together/],
    [['--metrics-token', 'short'], {}, /at least 16 characters/],
    [['--metrics-host', '9100'], {}, /ADDR:PORT/],
    [['--metrics-host', '127.0.0.1:70000'], {}, /ADDR:PORT/],
    [['--public-url', 'chat.example.com'], {}, /must be a URL/],
    [['--public-url', 'ftp://chat.example.com'], {}, /http:\/\/ or https:\/\//],
    [['--max-connections-per-ip', '-1'], {}, /whole number/],
    [['--max-store-bytes', '10X'], {}, /number of bytes, optionally with K, M, G or T/],
    [['--max-store-bytes', '-1'], {}, /number of bytes/],
    [['--max-store-bytes', '2048T'], {}, /from 0 to \d+ bytes/],
    [[], { PARLEY_MAX_STORE_BYTES: '1.5G' }, /PARLEY_MAX_STORE_BYTES must be a number of bytes/],
    [['--max-inbox', 'lots'], {}, /whole number/],
    [['--forget-guests-after', '1h'], {}, /whole number/],
    [['--max-known-guests', '-5'], {}, /whole number/],
  ];
  it.each(bad)('rejects %j %j', (argv, env, message) => {
    const r = parseConfig(argv, env);
    expect(r.ok).toBe(false);
    if (!r.ok && !r.help) expect(r.error).toMatch(message);
  });
  it('has safe defaults for the internet-facing limits', () => {
    expect(parseConfig([], {})).toMatchObject({
      ok: true,
      config: { maxConnectionsPerIp: 100, maxConnections: 10_000, publicUrls: [], tlsCert: undefined, tlsKey: undefined, metricsToken: undefined, metricsHost: undefined },
    });
  });
  it('has safe defaults for the quotas: guests forgotten after a day, 100,000 remembered, 10,000 queued DMs, 10 GiB of history', () => {
    expect(parseConfig([], {})).toMatchObject({
      ok: true,
      config: { forgetGuestsAfter: 86_400, maxKnownGuests: 100_000, maxInbox: 10_000, maxStoreBytes: 10 * 1024 ** 3 },
    });
  });
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['512K', 512 * 1024],
    ['64m', 64 * 1024 ** 2],
    ['10G', 10 * 1024 ** 3],
    ['10GiB', 10 * 1024 ** 3],
    ['1TB', 1024 ** 4],
  ])('--max-store-bytes %s is %d bytes (binary suffixes)', (raw, bytes) => {
    expect(parseConfig(['--max-store-bytes', raw], {})).toMatchObject({ ok: true, config: { maxStoreBytes: bytes } });
  });
  it('reads the quota flags and their environment variables', () => {
    const r = parseConfig(['--forget-guests-after', '60', '--max-inbox=0'], { PARLEY_MAX_KNOWN_GUESTS: '500', PARLEY_MAX_STORE_BYTES: '1G', PARLEY_MAX_INBOX: '7' });
    expect(r).toMatchObject({ ok: true, config: { forgetGuestsAfter: 60, maxKnownGuests: 500, maxStoreBytes: 1024 ** 3, maxInbox: 0 } });
  });
  it('reads TLS files, caps and metrics settings; --metrics-host takes ADDR:PORT, [IPv6]:PORT or :PORT', () => {
    const r = parseConfig(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--max-connections-per-ip', '0', '--max-connections=5', '--metrics-host', '[::1]:9100'], {
      PARLEY_METRICS_TOKEN: '0123456789abcdef',
    });
    expect(r).toMatchObject({
      ok: true,
      config: { tlsCert: 'c.pem', tlsKey: 'k.pem', maxConnectionsPerIp: 0, maxConnections: 5, metricsHost: { host: '::1', port: 9100 }, metricsToken: '0123456789abcdef' },
    });
    expect(parseConfig(['--metrics-host', ':9100'], {})).toMatchObject({ ok: true, config: { metricsHost: { host: '0.0.0.0', port: 9100 } } });
  });
  it('--public-url is repeatable and comma-separated; flags replace the environment\'s list, then add up', () => {
    const env = { PARLEY_PUBLIC_URL: 'https://env.example' };
    expect(parseConfig([], env)).toMatchObject({ ok: true, config: { publicUrls: ['https://env.example'] } });
    const r = parseConfig(['--public-url', 'https://a.example', '--public-url=https://b.example:8443,http://c.example'], env);
    expect(r).toMatchObject({ ok: true, config: { publicUrls: ['https://a.example', 'https://b.example:8443', 'http://c.example'] } });
    expect(parseConfig(['--allowed-origins', 'https://x.example', '--allowed-origins', 'https://y.example'], {})).toMatchObject({
      ok: true,
      config: { allowedOrigins: ['https://x.example', 'https://y.example'] },
    });
  });
  it('--help lists every flag with its env variable', () => {
    expect(parseConfig(['--help'], {})).toEqual({ ok: false, help: true });
    const text = helpText();
    for (const flag of [
      '--host', '--tcp-port', '--http-port', '--max-message-bytes', '--log-level', '--data-dir', '--fsync', '--memory', '--allowed-origins',
      '--tls-cert FILE', '--tls-key FILE', '--max-connections-per-ip N', '--max-connections N', '--public-url URL', '--metrics-token TOKEN', '--metrics-host ADDR:PORT',
      '--max-store-bytes BYTES', '--max-inbox N', '--forget-guests-after SECONDS', '--max-known-guests N',
    ]) {
      expect(text).toContain(flag);
    }
    expect(text).toContain('PARLEY_TCP_PORT');
  });
  it('cluster mode: a node promises a heartbeat within 10 s by default (issue 14: a dead node is gone within 15 s)', () => {
    const c = parseConfig([], {});
    expect(c.ok && c.config.nodeTimeoutMs).toBe(10_000);
    const set = parseConfig(['--node-timeout-ms', '4000'], {});
    expect(set.ok && set.config.nodeTimeoutMs).toBe(4000);
    expect(parseConfig(['--node-timeout-ms', '500'], {}).ok).toBe(false);
  });
});
