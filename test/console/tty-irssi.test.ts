// The console client as an irssi user lives in it, on a real terminal (tmux): windows and the prompt
// moving together, the typed line shown once, paging back, the aliases, activity, mentions, ignore,
// completion and logs. The other side of each conversation is a raw TCP client.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/require.js';
import { startServer, tempDir } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { startTerm, TerminalSuite, tmuxMissing, type Term } from './tmux.js';

const skip = skipUnless(tmuxMissing(), 'the irssi-habit terminal tests of the console client');
const socket = `parley-irssi-${process.pid}`;

describe.skipIf(skip)('console client: irssi habits on a terminal', () => {
  const suite = new TerminalSuite(socket);
  const { terms, peers } = suite;
  const term = (name: string, ...args: string[]): Term => {
    const t = startTerm(socket, ['--host', '127.0.0.1', '--port', String(suite.server.tcpPort), '--name', name, ...args]);
    terms.push(t);
    return t;
  };
  const peer = async (name: string, ...rooms: string[]): Promise<TcpClient> => {
    const c = await helloTcp(suite.server.tcpPort, name);
    peers.push(c);
    for (const room of rooms) {
      c.send({ type: 'join', room });
      await c.next((e) => e.type === 'joined' && e.room === room && e.name === name);
    }
    return c;
  };

  it('/join, /join back, /leave: the prompt, the status line and where a line goes change together', async () => {
    const bo = await peer('bo', 'general', 'dev');
    const t = term('amy');
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/join dev');
    await t.waitScreen(/amy \[2:#dev\]\n\[#dev\] >\s*$/m);
    t.line('/j general');
    await t.waitScreen(/amy \[1:#general\]\n\[#general\] >\s*$/m);
    // Leaving general goes back to the window used before it (dev), prompt included.
    t.line('/part');
    await t.waitScreen(/you left #general[\s\S]*amy \[1:#dev\]\n\[#dev\] >\s*$/m);
    t.line('where am i');
    const got = await bo.next((e) => e.type === 'message' && e.text === 'where am i');
    expect(got.room).toBe('dev');
    t.line('/quit');
    // Quitting leaves the rooms: the others see a leave, not a broken connection.
    const left = await bo.next((e) => e.type === 'left' && e.name === 'amy');
    expect(left.reason).toBeUndefined();
  });

  it('the typed line is shown once (the echo), and /history pages back from the oldest line shown', async () => {
    const cy = await peer('cy', 'fresh');
    const t = term('dee', '--room', 'fresh');
    await t.waitScreen(/\[#fresh\] >\s*$/m);
    for (const text of ['live one', 'live two']) cy.send({ type: 'say', room: 'fresh', text });
    await t.waitScreen(/<cy~> live two/);
    t.line('said once');
    await t.waitScreen(/<dee~> said once\n/);
    expect(t.screen().match(/said once/g)).toHaveLength(1);
    // Everything in the room is on screen already: there is nothing older.
    t.line('/history');
    await t.waitScreen(/no older messages in #fresh/);
    expect(t.screen().match(/live one/g)).toHaveLength(1);
    t.line('/quit');
  });

  it('usage is said once, an unknown command is named, and a bad /window says so', async () => {
    const t = term('eve');
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/msg bob');
    await t.waitScreen(/!! usage: \/msg NAME TEXT$/m);
    expect(t.screen()).not.toMatch(/usage: usage/);
    t.line('/frobnicate now');
    await t.waitScreen(/!! unknown command: \/frobnicate; \/help lists them$/m);
    t.line('/window 7');
    await t.waitScreen(/!! window: no window 7/);
    t.line('/quit');
  });

  it('a server that is not there is "cannot connect", not a lost connection', async () => {
    const closed = await startServer();
    const port = closed.tcpPort;
    await closed.stop();
    const t = startTerm(socket, ['--host', '127.0.0.1', '--port', String(port), '--name', 'fay']);
    terms.push(t);
    await t.waitScreen(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port} .*trying again in`));
    expect(t.screen()).not.toMatch(/lost/);
    t.line('/quit');
  });

  it('windows: Alt-digit and /window switch, the activity line marks news and mentions, /query opens a conversation', async () => {
    const gil = await peer('gil', 'general', 'ops');
    const t = term('hal');
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/join ops');
    await t.waitScreen(/hal \[2:#ops\]\n\[#ops\] >\s*$/m);
    gil.send({ type: 'say', room: 'general', text: 'plain news' });
    await t.waitScreen(/hal \[2:#ops\] \[Act: 1\]$/m);
    expect(t.screen()).not.toMatch(/plain news/);
    gil.send({ type: 'say', room: 'general', text: 'hey hal, look' });
    await t.waitScreen(/\[Act: 1!\]$/m);
    t.keys('M-1');
    await t.waitScreen(/<gil~> plain news\n.*<gil~> hey hal, look\nhal \[1:#general\]\n\[#general\] >\s*$/m);
    t.line('/window 2');
    await t.waitScreen(/hal \[2:#ops\]\n\[#ops\] >\s*$/m);
    expect(t.screen()).not.toMatch(/plain news/);
    // A direct message opens a window of its own and counts as a mention.
    gil.send({ type: 'dm', to: 'hal', text: 'psst hal' });
    await t.waitScreen(/\[Act: 3!\]$/m);
    t.line('/query gil');
    await t.waitScreen(/\*gil~\* psst hal\n(.*\n)?hal \[3:gil\]\n\[gil\] >\s*$/m);
    t.line('back at you');
    const dm = await gil.next((e) => e.type === 'message' && e.text === 'back at you');
    expect(dm.to).toBe('gil');
    t.line('/quit');
  });

  it('/ignore hides a name, /ignore lists, /unignore shows it again', async () => {
    const ivy = await peer('ivy', 'general');
    const t = term('jon');
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/ignore ivy');
    await t.waitScreen(/ignoring ivy:/);
    ivy.send({ type: 'say', room: 'general', text: 'you cannot see me' });
    ivy.send({ type: 'say', room: 'general', text: 'nor this', id: 'n' });
    await ivy.next((e) => e.type === 'ack' && e.re === 'n');
    t.line('/ignore');
    await t.waitScreen(/-- ignoring: ivy$/m);
    t.line('/unignore ivy');
    await t.waitScreen(/no longer ignoring ivy/);
    ivy.send({ type: 'say', room: 'general', text: 'visible again' });
    await t.waitScreen(/<ivy~> visible again/);
    expect(t.all()).not.toMatch(/cannot see me|nor this/);
    t.line('/quit');
  });

  it('/topic, /away, /whois, /names, /list; control, bidi and zero-width characters are spelled out', async () => {
    const kim = await peer('kim', 'general');
    const t = term('lee');
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/topic Release on Friday');
    await t.waitScreen(/lee set the topic of #general: Release on Friday/);
    kim.send({ type: 'topic', room: 'general', text: '\u200b\u202eevil\u001b[2J' });
    await t.waitScreen(/kim set the topic of #general: <U\+200B><U\+202E>evil\^\[\[2J/);
    t.line('/topic');
    await t.waitScreen(/topic of #general: <U\+200B>/);
    kim.send({ type: 'away', text: 'at lunch' });
    await t.waitScreen(/kim~ is away: at lunch/);
    t.line('/whois kim');
    await t.waitScreen(/kim~: guest; online; away: at lunch; in #general/);
    t.line('/names');
    await t.waitScreen(/in #general: .*kim~ \(away: at lunch\)/);
    t.line('/list');
    await t.waitScreen(/rooms: .*#general/);
    t.line('/quit');
  });

  it('Tab completes commands, names and rooms; --log-dir keeps each window in its own file', async () => {
    const mo = await peer('mo', 'general');
    const dir = tempDir('parley-logs-');
    const t = term('ned', '--log-dir', dir);
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.typeText('/que');
    t.keys('Tab');
    await t.waitScreen(/> \/query\s*$/m);
    t.keys('C-u');
    t.typeText('m');
    t.keys('Tab');
    await t.waitScreen(/> mo:\s*$/m);
    t.typeText('hello');
    t.keys('Enter');
    await mo.next((e) => e.type === 'message' && e.text === 'mo: hello');
    t.typeText('/j #gen');
    t.keys('Tab');
    await t.waitScreen(/> \/j #general\s*$/m);
    t.keys('C-u');
    mo.send({ type: 'dm', to: 'ned', text: 'logged dm' });
    await t.waitScreen(/\[Act: 2!\]/);
    await expect.poll(() => existsSync(join(dir, 'mo.log')) && readFileSync(join(dir, 'mo.log'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\d \[\d\d:\d\d\] \*mo~\* logged dm$/m);
    await expect.poll(() => readFileSync(join(dir, '#general.log'), 'utf8')).toMatch(/<ned~> mo: hello/);
    t.line('/quit');
  });

  it('/history in a conversation window pages back through the stored direct conversation', async () => {
    const ola = await accountTcp(suite.server.tcpPort, 'ola');
    peers.push(ola);
    const pimElsewhere = await accountTcp(suite.server.tcpPort, 'pim');
    for (let i = 1; i <= 5; i++) {
      ola.send({ type: 'dm', to: 'pim', text: `stored ${i}`, id: `d${i}` });
      await pimElsewhere.next((e) => e.type === 'message' && e.text === `stored ${i}`);
    }
    pimElsewhere.close();
    const t = startTerm(socket, ['--host', '127.0.0.1', '--port', String(suite.server.tcpPort), '--name', 'pim'], { PARLEY_PASSWORD: 'pw-of-pim', XDG_CONFIG_HOME: tempDir('parley-cfg-') });
    terms.push(t);
    await t.waitScreen(/\[#general\] >\s*$/m);
    ola.send({ type: 'dm', to: 'pim', text: 'live six', id: 'd6' });
    await t.waitScreen(/\[Act: 2!\]$/m);
    t.line('/query ola');
    await t.waitScreen(/\*ola\* live six\n(.*\n)?pim \[2:ola\]\n\[ola\] >\s*$/m);
    t.line('/history 2');
    await t.waitScreen(/older messages with ola:\n.*\*ola\* stored 4\n.*\*ola\* stored 5\n/);
    t.line('/history 2');
    await t.waitScreen(/older messages with ola:\n.*\*ola\* stored 2\n.*\*ola\* stored 3\n/);
    t.line('/history');
    await t.waitScreen(/older messages with ola:\n.*\*ola\* stored 1\n/);
    t.line('/history');
    await t.waitScreen(/no older messages with ola/);
    t.line('/quit');
  });
});
