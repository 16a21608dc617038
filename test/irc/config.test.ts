// The IRC listener's flags: --irc-port (env PARLEY_IRC_PORT), --no-irc, --server-name, --irc-replay.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { helpText, parseConfig } from '../../server/config.js';

describe('IRC flags', () => {
  it('default to port 6667, on, the host name, and no replay', () => {
    const r = parseConfig([], {});
    expect(r.ok && r.config).toMatchObject({ irc: true, ircPort: 6667, serverName: hostname(), ircReplay: 0 });
  });

  it('are read from flags and from PARLEY_* variables, flags winning', () => {
    const r = parseConfig(['--irc-port', '0', '--server-name', 'irc.example.org', '--irc-replay=25'], { PARLEY_IRC_PORT: '7000', PARLEY_IRC: 'true' });
    expect(r.ok && r.config).toMatchObject({ irc: true, ircPort: 0, serverName: 'irc.example.org', ircReplay: 25 });
    expect(parseConfig([], { PARLEY_IRC_PORT: '7000', PARLEY_SERVER_NAME: 'x.y' })).toMatchObject({ ok: true, config: { ircPort: 7000, serverName: 'x.y' } });
    expect(parseConfig(['--no-irc'], {})).toMatchObject({ ok: true, config: { irc: false } });
    expect(parseConfig([], { PARLEY_IRC: 'off' })).toMatchObject({ ok: true, config: { irc: false } });
  });

  it('refuse what would break IRC lines or the hub', () => {
    for (const [argv, re] of [
      [['--irc-port', '70000'], /from 0 to 65535/],
      [['--server-name', 'two words'], /--server-name must be/],
      [['--server-name', ':colon'], /--server-name must be/],
      [['--irc-replay', '1001'], /from 0 to 1000/],
    ] as const) {
      const r = parseConfig([...argv], {});
      expect(r.ok).toBe(false);
      if (!r.ok && !r.help) expect(r.error).toMatch(re);
    }
  });

  it('are listed by --help', () => {
    const help = helpText();
    for (const flag of ['--irc-port N', '--irc\n', '--server-name VALUE', '--irc-replay N', 'PARLEY_IRC_PORT']) expect(help).toContain(flag);
  });
});
