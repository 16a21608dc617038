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
  ];
  it.each(bad)('rejects %j %j', (argv, env, message) => {
    const r = parseConfig(argv, env);
    expect(r.ok).toBe(false);
    if (!r.ok && !r.help) expect(r.error).toMatch(message);
  });
  it('--help lists every flag with its env variable', () => {
    expect(parseConfig(['--help'], {})).toEqual({ ok: false, help: true });
    const text = helpText();
    for (const flag of ['--host', '--tcp-port', '--http-port', '--max-message-bytes', '--log-level', '--data-dir', '--fsync', '--memory', '--allowed-origins']) {
      expect(text).toContain(flag);
    }
    expect(text).toContain('PARLEY_TCP_PORT');
  });
});
