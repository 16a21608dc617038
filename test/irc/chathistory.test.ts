// CHATHISTORY against Parley's seqs: every subcommand, by msgid and by timestamp, checked against an
// oracle computed from the messages as they were delivered (their seq, msgid and time), so equal
// timestamps or a slow machine cannot make the expectation wrong. Also DMs, errors, TARGETS, and the
// replay on join for clients without chathistory (--irc-replay).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { joinIrc, registerIrc, type IrcClient, type IrcLine } from './helpers/irc-client.js';

const S = 'irc.test';
const CAPS = ['draft/chathistory', 'batch', 'server-time', 'message-tags', 'echo-message', 'labeled-response'];

interface Msg {
  seq: number;
  msgid: string;
  ts: string;
  ms: number;
  text: string;
}

let server: RunningServer;
const open: { close(): void }[] = [];

beforeAll(async () => {
  server = await startServer(['--server-name', S]);
});
afterAll(async () => {
  for (const c of open) c.close();
  await server.stop();
});

async function irc(nick: string, caps = CAPS, sasl?: { name: string; password: string }): Promise<IrcClient> {
  const c = await registerIrc(server.ircPort!, nick, sasl ? { caps, sasl } : { caps });
  open.push(c);
  return c;
}

/** Sends CHATHISTORY and returns the batch's lines (without the BATCH lines), checking the batch's shape. */
async function history(c: IrcClient, args: string, label = `h${Math.random().toString(36).slice(2, 8)}`): Promise<IrcLine[]> {
  c.send(`@label=${label} CHATHISTORY ${args}`);
  const start = await c.next((l) => l.tags.get('label') === label);
  if (start.command === 'FAIL') throw Object.assign(new Error(start.raw), { line: start });
  expect(start.command).toBe('BATCH');
  const id = start.params[0]!.slice(1);
  expect(start.params[1]).toBe('chathistory');
  const lines = await c.until((l) => l.command === 'BATCH' && l.params[0] === `-${id}`);
  return lines.slice(0, -1).filter((l) => l.tags.get('batch') === id);
}

async function fail(c: IrcClient, args: string): Promise<IrcLine> {
  const label = `f${Math.random().toString(36).slice(2, 8)}`;
  c.send(`@label=${label} CHATHISTORY ${args}`);
  return c.next((l) => l.tags.get('label') === label);
}

const seqsOf = (lines: IrcLine[], all: Msg[]): number[] => lines.map((l) => all.find((m) => m.msgid === l.tags.get('msgid'))?.seq ?? -1);
const first = (list: Msg[], n: number): number[] => list.slice(0, n).map((m) => m.seq);
const last = (list: Msg[], n: number): number[] => list.slice(Math.max(0, list.length - n)).map((m) => m.seq);

describe('CHATHISTORY in a channel', () => {
  let ann: IrcClient;
  let all: Msg[] = [];
  const room = 'histroom';
  const ch = `#${room}`;

  beforeAll(async () => {
    ann = await irc('hann');
    const bob = await helloTcp(server.tcpPort, 'hbob');
    open.push(bob);
    await joinIrc(ann, ch);
    bob.send({ type: 'join', room, history: 0 });
    await bob.next((e) => e.type === 'members');
    // 40 messages, alternating IRC and console; each waited for, so they are numbered in this order.
    for (let i = 1; i <= 40; i++) {
      if (i % 2 === 1) ann.send(`PRIVMSG ${ch} :m${i}`);
      else bob.send({ type: 'say', room, text: `m${i}` });
      const l = await ann.next((x) => x.command === 'PRIVMSG' && x.text === `m${i}`);
      all.push({ seq: i, msgid: l.tags.get('msgid')!, ts: l.tags.get('time')!, ms: Date.parse(l.tags.get('time')!), text: `m${i}` });
    }
    all = all.sort((a, b) => a.seq - b.seq);
  });

  it('msgids name the room and the seq, the same for every reader', () => {
    all.forEach((m, i) => expect(m.msgid).toBe(`r~${room}~${i + 1}`));
  });

  it('LATEST * gives the newest n, oldest first, each line as originally sent (time, msgid)', async () => {
    const lines = await history(ann, `LATEST ${ch} * 5`);
    expect(seqsOf(lines, all)).toEqual(last(all, 5));
    for (const l of lines) {
      const m = all.find((x) => x.msgid === l.tags.get('msgid'))!;
      expect(l.tags.get('time')).toBe(m.ts);
      expect(l.text).toBe(m.text);
      expect(l.params[0]).toBe(ch);
    }
    expect(seqsOf(await history(ann, `LATEST ${ch} * 0`), all)).toEqual(last(all, 40));
  });

  it('LATEST after a msgid or a timestamp', async () => {
    expect(seqsOf(await history(ann, `LATEST ${ch} msgid=${all[34]!.msgid} 10`), all)).toEqual([36, 37, 38, 39, 40]);
    expect(seqsOf(await history(ann, `LATEST ${ch} msgid=${all[9]!.msgid} 3`), all)).toEqual([38, 39, 40]);
    const t = all[30]!;
    expect(seqsOf(await history(ann, `LATEST ${ch} timestamp=${t.ts} 40`), all)).toEqual(all.filter((m) => m.ms > t.ms).map((m) => m.seq));
  });

  it('BEFORE and AFTER by msgid page back and forth without gaps', async () => {
    expect(seqsOf(await history(ann, `BEFORE ${ch} msgid=${all[19]!.msgid} 5`), all)).toEqual([15, 16, 17, 18, 19]);
    expect(seqsOf(await history(ann, `AFTER ${ch} msgid=${all[19]!.msgid} 5`), all)).toEqual([21, 22, 23, 24, 25]);
    expect(seqsOf(await history(ann, `BEFORE ${ch} msgid=${all[2]!.msgid} 10`), all)).toEqual([1, 2]);
    expect(seqsOf(await history(ann, `AFTER ${ch} msgid=${all[38]!.msgid} 10`), all)).toEqual([40]);
    // Paging back from the newest covers everything exactly once.
    const seen: number[] = [];
    let ref = `msgid=${all[39]!.msgid}`;
    seen.push(40);
    for (;;) {
      const page = await history(ann, `BEFORE ${ch} ${ref} 7`);
      if (page.length === 0) break;
      seen.unshift(...seqsOf(page, all));
      ref = `msgid=${page[0]!.tags.get('msgid')}`;
    }
    expect(seen).toEqual(all.map((m) => m.seq));
  });

  it('BEFORE and AFTER by timestamp: strictly before, strictly after', async () => {
    for (const at of [0, 7, 20, 39]) {
      const t = all[at]!;
      expect(seqsOf(await history(ann, `BEFORE ${ch} timestamp=${t.ts} 6`), all)).toEqual(last(all.filter((m) => m.ms < t.ms), 6));
      expect(seqsOf(await history(ann, `AFTER ${ch} timestamp=${t.ts} 6`), all)).toEqual(first(all.filter((m) => m.ms > t.ms), 6));
    }
    const beforeAll = new Date(all[0]!.ms - 60_000).toISOString();
    expect(seqsOf(await history(ann, `AFTER ${ch} timestamp=${beforeAll} 3`), all)).toEqual([1, 2, 3]);
    expect(await history(ann, `BEFORE ${ch} timestamp=${beforeAll} 3`)).toEqual([]);
  });

  it('AROUND a msgid includes it; AROUND a timestamp splits before and at-or-after', async () => {
    expect(seqsOf(await history(ann, `AROUND ${ch} msgid=${all[19]!.msgid} 5`), all)).toEqual([18, 19, 20, 21, 22]);
    expect(seqsOf(await history(ann, `AROUND ${ch} msgid=${all[19]!.msgid} 1`), all)).toEqual([20]);
    expect(seqsOf(await history(ann, `AROUND ${ch} msgid=${all[1]!.msgid} 6`), all)).toEqual([1, 2, 3, 4, 5]);
    const t = all[25]!;
    expect(seqsOf(await history(ann, `AROUND ${ch} timestamp=${t.ts} 6`), all)).toEqual([
      ...last(all.filter((m) => m.ms < t.ms), 3),
      ...first(all.filter((m) => m.ms >= t.ms), 3),
    ]);
  });

  it('BETWEEN forwards and backwards, by msgid, by timestamp and mixed, both ends excluded', async () => {
    const [a, b] = [all[9]!, all[20]!];
    expect(seqsOf(await history(ann, `BETWEEN ${ch} msgid=${a.msgid} msgid=${b.msgid} 100`), all)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(seqsOf(await history(ann, `BETWEEN ${ch} msgid=${a.msgid} msgid=${b.msgid} 3`), all)).toEqual([11, 12, 13]);
    expect(seqsOf(await history(ann, `BETWEEN ${ch} msgid=${b.msgid} msgid=${a.msgid} 3`), all)).toEqual([18, 19, 20]);
    expect(await history(ann, `BETWEEN ${ch} msgid=${a.msgid} msgid=${a.msgid} 3`)).toEqual([]);
    const inT = all.filter((m) => m.ms > a.ms && m.ms < b.ms);
    expect(seqsOf(await history(ann, `BETWEEN ${ch} timestamp=${a.ts} timestamp=${b.ts} 4`), all)).toEqual(first(inT, 4));
    expect(seqsOf(await history(ann, `BETWEEN ${ch} timestamp=${b.ts} timestamp=${a.ts} 4`), all)).toEqual(last(inT, 4));
    expect(seqsOf(await history(ann, `BETWEEN ${ch} msgid=${a.msgid} timestamp=${b.ts} 4`), all)).toEqual(first(all.filter((m) => m.seq > a.seq && m.ms < b.ms), 4));
    expect(seqsOf(await history(ann, `BETWEEN ${ch} msgid=${b.msgid} timestamp=${a.ts} 4`), all)).toEqual(last(all.filter((m) => m.seq < b.seq && m.ms > a.ms), 4));
  });

  it('a channel one is not in answers an empty batch; bad requests are FAIL with the spec codes', async () => {
    const outsider = await irc('houtsider');
    expect(await history(outsider, `LATEST ${ch} * 10`)).toEqual([]);
    expect((await fail(ann, 'FROB #x * 10')).params).toEqual(['CHATHISTORY', 'UNKNOWN_COMMAND', 'FROB', 'Unknown command']);
    expect((await fail(ann, `LATEST ${ch}`)).params.slice(0, 3)).toEqual(['CHATHISTORY', 'NEED_MORE_PARAMS', 'LATEST']);
    expect((await fail(ann, 'LATEST #bad!chan * 10')).params.slice(0, 4)).toEqual(['CHATHISTORY', 'INVALID_TARGET', 'LATEST', '#bad!chan']);
    expect((await fail(ann, `BEFORE ${ch} yesterday 10`)).params.slice(0, 3)).toEqual(['CHATHISTORY', 'INVALID_PARAMS', 'BEFORE']);
    expect((await fail(ann, `BEFORE ${ch} timestamp=2030-01-01 10`)).params.slice(0, 3)).toEqual(['CHATHISTORY', 'INVALID_PARAMS', 'BEFORE']);
    expect((await fail(ann, `BEFORE ${ch} msgid=r~otherroom~3 10`)).params.slice(0, 3)).toEqual(['CHATHISTORY', 'INVALID_PARAMS', 'BEFORE']);
    expect((await fail(ann, `BEFORE ${ch} msgid=${all[3]!.msgid} many`)).params.slice(0, 3)).toEqual(['CHATHISTORY', 'INVALID_PARAMS', 'BEFORE']);
  });

  it('without the batch cap the messages come bare; ISUPPORT advertises CHATHISTORY and MSGREFTYPES', async () => {
    const plain = await irc('hplain', ['draft/chathistory', 'message-tags']);
    expect(plain.lines.some((l) => l.command === '005' && l.params.includes('CHATHISTORY=1000') && l.params.includes('MSGREFTYPES=msgid,timestamp'))).toBe(true);
    await joinIrc(plain, ch);
    plain.send(`CHATHISTORY LATEST ${ch} * 2`);
    const a = await plain.next((l) => l.command === 'PRIVMSG' && l.text === 'm39');
    const b = await plain.next((l) => l.command === 'PRIVMSG' && l.text === 'm40');
    expect([a.tags.get('msgid'), b.tags.get('msgid')]).toEqual([all[38]!.msgid, all[39]!.msgid]);
    expect(plain.lines.some((l) => l.command === 'BATCH')).toBe(false);
  });
});

describe('CHATHISTORY of direct messages', () => {
  it('a nick target reads the conversation of two accounts, both directions, by msgid and time', async () => {
    const con = await accountTcp(server.tcpPort, 'hdee');
    open.push(con);
    // An account for the IRC side, made over the console, then logged into with SASL.
    const made = await accountTcp(server.tcpPort, 'hcat');
    made.close();
    const cat = await irc('ignored', CAPS, { name: 'hcat', password: 'pw-of-hcat' });
    const all: Msg[] = [];
    for (let i = 1; i <= 12; i++) {
      if (i % 3 === 0) con.send({ type: 'dm', to: 'hcat', text: `d${i}` });
      else cat.send(`PRIVMSG hdee :d${i}`);
      const l = await cat.next((x) => x.command === 'PRIVMSG' && x.text === `d${i}`);
      all.push({ seq: i, msgid: l.tags.get('msgid')!, ts: l.tags.get('time')!, ms: Date.parse(l.tags.get('time')!), text: `d${i}` });
    }
    expect(all.map((m) => m.msgid)).toEqual(all.map((m) => `d~hcat~hdee~${m.seq}`));
    const latest = await history(cat, 'LATEST hdee * 4');
    expect(seqsOf(latest, all)).toEqual([9, 10, 11, 12]);
    expect(latest.map((l) => [l.source?.split('!')[0], l.params[0]])).toEqual([
      ['hdee', 'hcat'],
      ['hcat', 'hdee'],
      ['hcat', 'hdee'],
      ['hdee', 'hcat'],
    ]);
    expect(seqsOf(await history(cat, `BEFORE hdee msgid=${all[5]!.msgid} 2`), all)).toEqual([4, 5]);
    expect(seqsOf(await history(cat, `AFTER hdee timestamp=${all[5]!.ts} 2`), all)).toEqual(first(all.filter((m) => m.ms > all[5]!.ms), 2));
    // A msgid of this conversation read from the other name's side is still ours; another pair's is not.
    expect((await fail(cat, 'BEFORE hdee msgid=d~hcat~zed~3 2')).params[1]).toBe('INVALID_PARAMS');
    // Someone never seen: nothing to read.
    expect(await history(cat, 'LATEST nobodyever * 10')).toEqual([]);
  });

  it('TARGETS lists the conversations seen active between two times, oldest first', async () => {
    const t0 = new Date(Date.now() - 1000).toISOString();
    const eve = await irc('heve');
    const fay = await helloTcp(server.tcpPort, 'hfay');
    open.push(fay);
    await joinIrc(eve, '#tgtroom');
    eve.send('PRIVMSG #tgtroom :first here');
    await eve.next((l) => l.text === 'first here');
    fay.send({ type: 'dm', to: 'heve', text: 'then a dm' });
    await eve.next((l) => l.text === 'then a dm');
    const t1 = new Date(Date.now() + 1000).toISOString();
    eve.send(`@label=tg CHATHISTORY TARGETS timestamp=${t0} timestamp=${t1} 10`);
    const start = await eve.next((l) => l.tags.get('label') === 'tg');
    expect(start.params.slice(1)).toEqual(['draft/chathistory-targets']);
    const lines = await eve.until((l) => l.command === 'BATCH' && l.params[0] === `-${start.params[0]!.slice(1)}`);
    const targets = lines.filter((l) => l.command === 'CHATHISTORY').map((l) => l.params.slice(0, 2));
    expect(targets).toEqual([
      ['TARGETS', '#tgtroom'],
      ['TARGETS', 'hfay'],
    ]);
    const none = new Date(Date.now() - 3_600_000).toISOString();
    eve.send(`@label=tg2 CHATHISTORY TARGETS timestamp=${none} timestamp=${t0} 10`);
    const s2 = await eve.next((l) => l.tags.get('label') === 'tg2');
    const l2 = await eve.until((l) => l.command === 'BATCH' && l.params[0] === `-${s2.params[0]!.slice(1)}`);
    expect(l2.filter((l) => l.command === 'CHATHISTORY')).toEqual([]);
  });
});

describe('replay on join (--irc-replay) for clients without chathistory', () => {
  let replayServer: RunningServer;
  beforeAll(async () => {
    replayServer = await startServer(['--server-name', S, '--irc-replay', '3']);
  });
  afterAll(async () => {
    await replayServer.stop();
  });

  it('a plain client gets the last N after the names, with server-time if asked; a chathistory client gets none', async () => {
    const con: TcpClient = await helloTcp(replayServer.tcpPort, 'rcon');
    open.push(con);
    con.send({ type: 'join', room: 'replay', history: 0 });
    await con.next((e) => e.type === 'members');
    for (let i = 1; i <= 5; i++) {
      con.send({ type: 'say', room: 'replay', text: `r${i}`, id: `s${i}` });
      await con.next((e) => e.type === 'ack' && e.re === `s${i}`);
    }
    const timed = await registerIrc(replayServer.ircPort!, 'rtimed', { caps: ['server-time'] });
    const bare = await registerIrc(replayServer.ircPort!, 'rbare');
    const modern = await registerIrc(replayServer.ircPort!, 'rmodern', { caps: ['draft/chathistory', 'server-time'] });
    open.push(timed, bare, modern);
    for (const c of [timed, bare, modern]) c.send('JOIN #replay');
    const after366 = async (c: IrcClient): Promise<IrcLine[]> => {
      await c.next((l) => l.command === '366');
      c.send('PING :fence');
      const lines = await c.until((l) => l.command === 'PONG');
      return lines.filter((l) => l.command === 'PRIVMSG');
    };
    const t = await after366(timed);
    expect(t.map((l) => l.text)).toEqual(['r3', 'r4', 'r5']);
    for (const l of t) expect(l.tags.get('time')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const b = await after366(bare);
    expect(b.map((l) => [l.text, l.tags.size])).toEqual([
      ['r3', 0],
      ['r4', 0],
      ['r5', 0],
    ]);
    expect(await after366(modern)).toEqual([]);
  });
});
