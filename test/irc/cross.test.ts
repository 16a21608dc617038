// IRC, the console protocol (TCP JSON) and the browser protocol (WebSocket JSON) in the same rooms,
// against the real server: what one says the others see, with the same seqs (an IRC msgid names the
// seq); long and multi-line messages split for IRC readers and whole for the others; accounts made
// over JSON logged into with SASL, their queued DMs delivered right after registration; several
// sessions of one account; and history that survives a restart with the same msgids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { helloWs, type WsClient } from '../helpers/ws-client.js';
import { joinIrc, registerIrc, type IrcClient } from './helpers/irc-client.js';

const S = 'irc.test';
const TAGS = ['message-tags', 'server-time'];

let server: RunningServer;
const open: { close?(): void; destroy?(): void }[] = [];

beforeAll(async () => {
  server = await startServer(['--server-name', S]);
});
afterAll(async () => {
  for (const c of open) (c.close ?? c.destroy)?.call(c);
  await server.stop();
});

async function jsonJoin(c: TcpClient | WsClient, room: string): Promise<void> {
  if ('sendJson' in c) c.sendJson({ type: 'join', room, history: 0 });
  else c.send({ type: 'join', room, history: 0 });
  await c.next((e) => e.type === 'history' && e.room === room);
}

describe('one room, three transports', () => {
  it('what each says, the others see, with the same seq (msgid) and time', async () => {
    const irc = await registerIrc(server.ircPort!, 'xirc', { caps: TAGS });
    const con = await helloTcp(server.tcpPort, 'xcon');
    const web = await helloWs(server.httpPort, 'xweb');
    open.push(irc, con, web);
    await joinIrc(irc, '#mixed');
    await jsonJoin(con, 'mixed');
    await jsonJoin(web, 'mixed');
    // Joins are seen across transports.
    await irc.next((l) => l.command === 'JOIN' && l.source?.startsWith('xcon!') === true);
    await irc.next((l) => l.command === 'JOIN' && l.source?.startsWith('xweb!') === true);
    await con.next((e) => e.type === 'joined' && e.name === 'xweb');

    irc.send('PRIVMSG #mixed :from irc');
    const c1 = await con.next((e) => e.type === 'message' && e.text === 'from irc');
    const w1 = await web.next((e) => e.type === 'message' && e.text === 'from irc');
    expect(c1).toMatchObject({ room: 'mixed', from: 'xirc', seq: 1 });
    expect(w1).toMatchObject({ seq: 1, ts: c1.ts });

    con.send({ type: 'say', room: 'mixed', text: 'from the console', id: 'c' });
    web.sendJson({ type: 'say', room: 'mixed', text: 'from the browser', id: 'w' });
    const i2 = await irc.next((l) => l.text === 'from the console');
    const i3 = await irc.next((l) => l.text === 'from the browser');
    const ackC = await con.next((e) => e.type === 'ack' && e.re === 'c');
    const ackW = await web.next((e) => e.type === 'ack' && e.re === 'w');
    expect(i2.tags.get('msgid')).toBe(`r~mixed~${ackC.seq}`);
    expect(i3.tags.get('msgid')).toBe(`r~mixed~${ackW.seq}`);
    const w2 = await web.next((e) => e.type === 'message' && e.text === 'from the console');
    expect(i2.tags.get('time')).toBe(w2.ts);
    expect(i2.source).toBe(`xcon!xcon@${S}`);

    // A part on IRC is a `left` for the others, and the other way round.
    web.sendJson({ type: 'leave', room: 'mixed' });
    await irc.next((l) => l.command === 'PART' && l.source?.startsWith('xweb!') === true && l.params[0] === '#mixed');
    irc.send('PART #mixed');
    await con.next((e) => e.type === 'left' && e.name === 'xirc');
  });

  it('a long, multi-line message is split for IRC at character boundaries (msgid on the first line), whole for the others', async () => {
    const irc = await registerIrc(server.ircPort!, 'yirc', { caps: TAGS });
    const web = await helloWs(server.httpPort, 'yweb');
    const con = await helloTcp(server.tcpPort, 'ycon');
    open.push(irc, web, con);
    await joinIrc(irc, '#long');
    await jsonJoin(web, 'long');
    await jsonJoin(con, 'long');
    const para = 'Ünïcödé wörds 😀 and more '.repeat(60); // ~1600 characters, multi-byte
    const text = `${para}\nsecond line\n\nfourth line`;
    web.sendJson({ type: 'say', room: 'long', text, id: 'l' });
    const ack = await web.next((e) => e.type === 'ack' && e.re === 'l');
    const lines = await irc.until((l) => l.command === 'PRIVMSG' && l.text === 'fourth line');
    const privmsgs = lines.filter((l) => l.command === 'PRIVMSG');
    expect(privmsgs.length).toBeGreaterThan(5);
    for (const l of privmsgs) {
      const withoutTags = l.raw.startsWith('@') ? l.raw.slice(l.raw.indexOf(' ') + 1) : l.raw;
      expect(Buffer.byteLength(withoutTags, 'utf8') + 2).toBeLessThanOrEqual(512);
      expect(l.text).not.toContain('\uFFFD');
      expect(l.tags.get('time')).toBe(privmsgs[0]!.tags.get('time'));
    }
    expect(privmsgs[0]!.tags.get('msgid')).toBe(`r~long~${ack.seq}`);
    expect(privmsgs.slice(1).every((l) => !l.tags.has('msgid'))).toBe(true);
    const texts = privmsgs.map((l) => l.text);
    expect(texts.slice(-2)).toEqual(['second line', 'fourth line']);
    expect(texts.slice(0, -2).join('')).toBe(para);
    // The console reader gets it as one message, exactly.
    expect((await con.next((e) => e.type === 'message' && e.seq === ack.seq)).text).toBe(text);

    // And from IRC: the longest line a client can send arrives whole.
    const max = 'é'.repeat(240);
    irc.send(`PRIVMSG #long :${max}`);
    expect((await con.next((e) => e.type === 'message' && e.from === 'yirc')).text).toBe(max);
  });
});

describe('accounts across transports', () => {
  it('DMs to an offline account made over JSON wait, and arrive after 001 when it logs in over IRC with SASL', async () => {
    const zed = await accountTcp(server.tcpPort, 'zedirc');
    zed.close();
    await new Promise<void>((r) => zed.socket.once('close', () => r()));
    const amy = await accountTcp(server.tcpPort, 'amycon');
    open.push(amy);
    // Wait until the server has seen zed go (a DM to an online user is not queued).
    for (let i = 0; i < 100; i++) {
      amy.send({ type: 'whois', name: 'zedirc', id: `w${i}` });
      const u = await amy.next((e) => e.re === `w${i}`);
      if (u.online === false) break;
    }
    for (let i = 1; i <= 3; i++) {
      amy.send({ type: 'dm', to: 'zedirc', text: `while you were out ${i}`, id: `d${i}` });
      await amy.next((e) => e.type === 'ack' && e.re === `d${i}`);
    }
    const irc = await registerIrc(server.ircPort!, 'zedirc', { caps: TAGS, sasl: { name: 'zedirc', password: 'pw-of-zedirc' } });
    open.push(irc);
    const welcome = irc.lines.findIndex((l) => l.command === '001');
    const dms = [1, 2, 3].map(async (i) => irc.next((l) => l.command === 'PRIVMSG' && l.text === `while you were out ${i}`));
    const got = await Promise.all(dms);
    for (const [i, l] of got.entries()) {
      expect(irc.lines.indexOf(l)).toBeGreaterThan(welcome);
      expect(l.source).toBe(`amycon!amycon@${S}`);
      expect(l.params[0]).toBe('zedirc');
      expect(l.tags.get('msgid')).toBe(`d~amycon~zedirc~${i + 1}`);
    }
    // A reply from IRC reaches the console account and is stored (history {with}).
    irc.send('PRIVMSG amycon :back now');
    expect(await amy.next((e) => e.type === 'message' && e.text === 'back now')).toMatchObject({ from: 'zedirc', to: 'amycon', seq: 4 });
    amy.send({ type: 'history', with: 'zedirc', id: 'h' });
    const h = await amy.next((e) => e.re === 'h');
    expect((h.messages as { text: string }[]).map((m) => m.text)).toEqual(['while you were out 1', 'while you were out 2', 'while you were out 3', 'back now']);
  });

  it('one account on IRC and on the console: each session sees what the other says (not suppressed as an echo)', async () => {
    const con = await accountTcp(server.tcpPort, 'twoway');
    open.push(con);
    const irc = await registerIrc(server.ircPort!, 'x', { sasl: { name: 'twoway', password: 'pw-of-twoway' } });
    open.push(irc);
    await joinIrc(irc, '#sessions');
    await jsonJoin(con, 'sessions');
    con.send({ type: 'say', room: 'sessions', text: 'said on the console' });
    expect(await irc.next((l) => l.command === 'PRIVMSG' && l.text === 'said on the console')).toMatchObject({ source: `twoway!twoway@${S}` });
    // Its own IRC message is not echoed back (no echo-message), but the console session sees it.
    irc.send('PRIVMSG #sessions :said on irc');
    await con.next((e) => e.type === 'message' && e.text === 'said on irc');
    irc.send('PING :fence');
    const lines = await irc.until((l) => l.command === 'PONG');
    expect(lines.filter((l) => l.command === 'PRIVMSG')).toEqual([]);
  });
});

describe('durability', () => {
  it('what was said on IRC is in history after a restart, with the same msgid and time', async () => {
    const dir = tempDir();
    let s = await startServer(['--server-name', S, '--data-dir', dir]);
    const caps = ['draft/chathistory', 'batch', 'message-tags', 'server-time', 'echo-message'];
    let c = await registerIrc(s.ircPort!, 'dura', { caps });
    await joinIrc(c, '#kept');
    c.send('PRIVMSG #kept :remember me');
    const echo = await c.next((l) => l.command === 'PRIVMSG' && l.text === 'remember me');
    c.close();
    await s.stop();
    s = await startServer(['--server-name', S, '--data-dir', dir]);
    try {
      c = await registerIrc(s.ircPort!, 'dura', { caps });
      await joinIrc(c, '#kept');
      c.send('CHATHISTORY LATEST #kept * 10');
      const batch = await c.until((l) => l.command === 'BATCH' && l.params[0]!.startsWith('-'));
      const msgs = batch.filter((l) => l.command === 'PRIVMSG');
      expect(msgs.map((l) => [l.text, l.tags.get('msgid'), l.tags.get('time')])).toEqual([['remember me', echo.tags.get('msgid'), echo.tags.get('time')]]);
      c.close();
    } finally {
      await s.stop();
    }
  });
});
