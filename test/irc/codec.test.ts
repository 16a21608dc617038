// The IRC codec's pure parts: line parsing (tags, escapes, source, trailing, lengths checked before
// anything is trusted, UTF-8), formatting that always fits 512 bytes, splitting long and multi-line
// text at character boundaries, msgids, SASL PLAIN, CAP requests and ISUPPORT lines.
import { describe, expect, it } from 'vitest';
import { capList, parseCapRequest } from '../../server/irc/caps.js';
import { isupportLines, isupportTokens } from '../../server/irc/isupport.js';
import { escapeTagValue, formatFitted, formatLine, MAX_CLIENT_TAG_BYTES, parseLine, parseTags, truncateUtf8, unescapeTagValue, withTag } from '../../server/irc/message.js';
import { dmMsgid, parseMsgid, roomMsgid } from '../../server/irc/msgid.js';
import { isValidNick, roomOf } from '../../server/irc/names.js';
import { IrcRenderer } from '../../server/irc/render.js';
import { decodePlain, SaslPlain } from '../../server/irc/sasl.js';
import { splitText } from '../../server/irc/split.js';
import { parseIrcLine } from './helpers/irc-client.js';

const parse = (s: string | Buffer) => parseLine(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

describe('parseLine', () => {
  it('reads command, params and the trailing parameter, upper-casing the command', () => {
    expect(parse('privmsg #general :hello  world ')).toEqual({ ok: true, msg: { tags: undefined, source: undefined, command: 'PRIVMSG', params: ['#general', 'hello  world '] } });
    expect(parse('JOIN   #a,#b    key')).toMatchObject({ ok: true, msg: { command: 'JOIN', params: ['#a,#b', 'key'] } });
    expect(parse('USER u 0 * :')).toMatchObject({ ok: true, msg: { params: ['u', '0', '*', ''] } });
    expect(parse(':nick!u@h PRIVMSG bob ::-)')).toMatchObject({ ok: true, msg: { source: 'nick!u@h', params: ['bob', ':-)'] } });
    expect(parse('CAP LS 302')).toMatchObject({ ok: true, msg: { command: 'CAP', params: ['LS', '302'] } });
  });

  it('reads tags, unescaping values; a tag without a value is empty; malformed keys are dropped', () => {
    const p = parse('@label=a\\sb\\:c\\\\d;+draft/typing=active;flag;bad^key=1;=x PRIVMSG #a :hi');
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect([...p.msg.tags!]).toEqual([
      ['label', 'a b;c\\d'],
      ['+draft/typing', 'active'],
      ['flag', ''],
    ]);
    expect(parseTags('a=\\r\\n\\x\\')).toEqual(new Map([['a', '\r\nx']]));
  });

  it('escapes and unescapes tag values both ways', () => {
    for (const v of ['plain', 'a b', 'semi;colon', 'back\\slash', 'cr\rlf\n', ';\\ \r\n', '']) expect(unescapeTagValue(escapeTagValue(v))).toBe(v);
    expect(escapeTagValue('a b;c\\')).toBe('a\\sb\\:c\\\\');
  });

  it('lines with nothing to do are no command', () => {
    expect(parse('@a=b')).toEqual({ ok: false, code: 'no_command' });
    expect(parse(':source')).toEqual({ ok: false, code: 'no_command' });
    expect(parse('   ')).toEqual({ ok: false, code: 'no_command' });
  });

  it('checks lengths before trusting anything: tags up to 4094 bytes, the rest up to 510', () => {
    const tags = (n: number): string => `@a=${'x'.repeat(n - 4)} `; // '@' + 'a=' + x… + ' ' = n bytes
    expect(Buffer.byteLength(tags(MAX_CLIENT_TAG_BYTES))).toBe(MAX_CLIENT_TAG_BYTES);
    expect(parse(`${tags(MAX_CLIENT_TAG_BYTES)}PING x`).ok).toBe(true);
    expect(parse(`${tags(MAX_CLIENT_TAG_BYTES + 1)}PING x`)).toEqual({ ok: false, code: 'input_too_long', command: 'PING' });
    const body = (n: number): string => `PRIVMSG #a :${'y'.repeat(n - 12)}`;
    expect(parse(body(510)).ok).toBe(true);
    expect(parse(body(511))).toEqual({ ok: false, code: 'input_too_long', command: 'PRIVMSG' });
    // Multi-byte text counts in bytes.
    expect(parse(`PRIVMSG #a :${'é'.repeat(249)}`).ok).toBe(true);
    expect(parse(`PRIVMSG #a :${'é'.repeat(250)}`)).toMatchObject({ ok: false, code: 'input_too_long' });
  });

  it('refuses invalid UTF-8 in the body or the tags, naming the command when it can', () => {
    expect(parse(Buffer.concat([Buffer.from('PRIVMSG #a :'), Buffer.from([0xc3, 0x28])]))).toEqual({ ok: false, code: 'bad_utf8', command: 'PRIVMSG' });
    expect(parse(Buffer.concat([Buffer.from('@a='), Buffer.from([0xff]), Buffer.from(' NOTICE x :y')]))).toEqual({ ok: false, code: 'bad_utf8', command: 'NOTICE' });
    expect(parse(Buffer.from([0xff, 0x20, 0x41]))).toEqual({ ok: false, code: 'bad_utf8', command: '*' });
  });
});

describe('formatting', () => {
  it('adds the trailing colon only when needed, and never lets CR, LF or NUL through', () => {
    expect(formatLine('s', 'JOIN', ['#a'])).toBe(':s JOIN #a');
    expect(formatLine('s', '001', ['n', 'Welcome home'])).toBe(':s 001 n :Welcome home');
    expect(formatLine('s', 'X', ['n', ''])).toBe(':s X n :');
    expect(formatLine('s', 'X', ['n', ':)'])).toBe(':s X n ::)');
    expect(formatLine('s', 'X', ['n', 'a\r\nb\0c'])).toBe(':s X n :a  b c');
  });

  it('fits free text into 510 bytes, cut between characters', () => {
    const line = formatFitted('server.example', '332', ['nick', '#room'], '€'.repeat(400));
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(510);
    expect(Buffer.byteLength(line)).toBeGreaterThan(505);
    expect(line.endsWith('€')).toBe(true);
    expect(truncateUtf8('a😀b', 4)).toBe('a');
    expect(truncateUtf8('a😀b', 5)).toBe('a😀');
  });

  it('adds tags in front of a line with or without tags', () => {
    expect(withTag(':s X', 'label=1')).toBe('@label=1 :s X');
    expect(withTag('@time=t :s X', 'batch=2')).toBe('@batch=2;time=t :s X');
  });
});

describe('splitText', () => {
  it('keeps short lines whole and makes each line of a multi-line text its own piece', () => {
    expect(splitText('hello', 100)).toEqual(['hello']);
    expect(splitText('one\ntwo\r\nthree\rfour', 100)).toEqual(['one', 'two', 'three', 'four']);
    expect(splitText('a\n\n\nb', 100)).toEqual(['a', 'b']);
    expect(splitText('\n\n', 100)).toEqual([' ']);
  });

  it('cuts long lines at character boundaries within the byte budget, preferring spaces', () => {
    const text = 'word '.repeat(200);
    const pieces = splitText(text, 100);
    for (const p of pieces) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(100);
    expect(pieces.join('')).toBe(text.replace(/\n/g, ''));
    expect(pieces[0]!.endsWith(' ')).toBe(true);
    const emoji = '😀'.repeat(100); // 400 bytes, no spaces
    const cut = splitText(emoji, 30);
    expect(cut.join('')).toBe(emoji);
    for (const p of cut) {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(30);
      expect(Buffer.from(p, 'utf8').toString('utf8')).toBe(p); // no half characters
      expect(p).not.toMatch(/[\uD800-\uDBFF]$/);
    }
  });
});

describe('rendering a chat message for IRC readers', () => {
  const r = new IrcRenderer('irc.test', 'irc.test');
  const msg = { type: 'message' as const, room: 'general', from: 'ann', seq: 7, ts: '2030-01-01T00:00:00.000Z' };

  it('a 4000-character message becomes lines of at most 512 bytes, msgid on the first only, time on each', () => {
    const text = 'é'.repeat(4000);
    const lines = r.messageLines({ ...msg, text }, 3);
    expect(lines.length).toBeGreaterThan(15);
    const back = lines.map((l) => parseIrcLine(l));
    for (const [i, l] of back.entries()) {
      expect(Buffer.byteLength(l.raw.slice(l.raw.indexOf(' ') + 1)) + 2).toBeLessThanOrEqual(512);
      expect(l.tags.get('time')).toBe(msg.ts);
      expect(l.tags.has('msgid')).toBe(i === 0);
      expect(l).toMatchObject({ source: 'ann!ann@irc.test', command: 'PRIVMSG', params: ['#general', expect.any(String)] });
    }
    expect(back[0]!.tags.get('msgid')).toBe('r~general~7');
    expect(back.map((l) => l.text).join('')).toBe(text);
  });

  it('an action is a CTCP ACTION on every line; a DM is addressed to its recipient', () => {
    const lines = r.messageLines({ ...msg, text: 'waves\nand smiles', action: true }, 0);
    expect(lines).toEqual([':ann!ann@irc.test PRIVMSG #general :\x01ACTION waves\x01', ':ann!ann@irc.test PRIVMSG #general :\x01ACTION and smiles\x01']);
    const dm = r.messageLines({ type: 'message', to: 'Bob', from: 'ann', text: 'psst', seq: 3, ts: msg.ts }, 2);
    expect(dm).toEqual(['@msgid=d~ann~bob~3 :ann!ann@irc.test PRIVMSG Bob :psst']);
  });
});

describe('msgid', () => {
  it('names the conversation and the seq, and reads back only its own shape', () => {
    expect(roomMsgid('General', 42)).toBe('r~general~42');
    expect(dmMsgid('Zed', 'amy', 7)).toBe('d~amy~zed~7');
    expect(parseMsgid('r~general~42')).toEqual({ room: 'general', seq: 42 });
    expect(parseMsgid('d~amy~zed~7')).toEqual({ users: ['amy', 'zed'], seq: 7 });
    for (const bad of ['', 'r~general', 'r~General~1', 'r~gen eral~1', 'r~general~0', 'r~general~1.5', 'x~a~1', 'd~a~1', 'r~general~-3', 'r~a~99999999999999999999']) {
      expect(parseMsgid(bad)).toBeUndefined();
    }
  });
});

describe('names', () => {
  it('a nick is a Parley name; a channel is # and a room name', () => {
    for (const ok of ['alice', 'Alice_2', '9lives', '-dash', 'a.b', 'x'.repeat(32)]) expect(isValidNick(ok)).toBe(true);
    for (const bad of ['', 'x'.repeat(33), 'a b', 'a!b', '#chan', 'ä', 'a:b']) expect(isValidNick(bad)).toBe(false);
    expect(roomOf('#general')).toBe('general');
    expect(roomOf('#a.b-c_1')).toBe('a.b-c_1');
    for (const bad of ['general', '#', '##x', '#a b', `#${'x'.repeat(33)}`, '&local']) expect(roomOf(bad)).toBeUndefined();
  });
});

describe('SASL PLAIN', () => {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

  it('decodes authzid, authcid and password; an authzid naming someone else is refused', () => {
    expect(decodePlain(b64('\0alice\0secret pw'))).toEqual({ more: false, creds: { name: 'alice', password: 'secret pw' } });
    expect(decodePlain(b64('Alice\0alice\0pw'))).toEqual({ more: false, creds: { name: 'alice', password: 'pw' } });
    expect(decodePlain(b64('bob\0alice\0pw'))).toEqual({ more: false, error: 'malformed' });
    expect(decodePlain(b64('alice\0pw'))).toEqual({ more: false, error: 'malformed' });
    expect(decodePlain('not base64!')).toEqual({ more: false, error: 'malformed' });
  });

  it('takes 400-byte chunks until a shorter one or +, and bounds the total', () => {
    const long = b64(`\0alice\0${'p'.repeat(600)}`);
    expect(long.length).toBeGreaterThan(800);
    const s = new SaslPlain();
    expect(s.feed(long.slice(0, 400))).toEqual({ more: true });
    expect(s.feed(long.slice(400, 800))).toEqual({ more: true });
    expect(s.feed(long.slice(800))).toEqual({ more: false, creds: { name: 'alice', password: 'p'.repeat(600) } });
    const exact = b64(`\0al\0${'q'.repeat(296)}`);
    expect(exact.length).toBe(400);
    const t = new SaslPlain();
    expect(t.feed(exact)).toEqual({ more: true });
    expect(t.feed('+')).toMatchObject({ more: false, creds: { name: 'al' } });
    const big = new SaslPlain();
    let step = big.feed('A'.repeat(400));
    for (let i = 0; i < 30 && step.more; i++) step = big.feed('A'.repeat(400));
    expect(step).toEqual({ more: false, error: 'too_long' });
  });
});

describe('CAP and ISUPPORT', () => {
  it('lists caps, with values for 302; a REQ with any unknown cap is refused whole', () => {
    expect(capList(false)).toContain('sasl');
    expect(capList(true)).toContain('sasl=PLAIN');
    expect(parseCapRequest('echo-message -batch')).toMatchObject({ add: expect.any(Number), remove: expect.any(Number) });
    expect(parseCapRequest('echo-message unknown-cap')).toBeUndefined();
  });

  it('states the limits clients need, at most 13 tokens a line', () => {
    const tokens = isupportTokens('Parley');
    for (const t of ['CASEMAPPING=ascii', 'CHANTYPES=#', 'NICKLEN=32', 'CHANNELLEN=33', 'UTF8ONLY', 'MSGREFTYPES=msgid,timestamp', 'CHATHISTORY=1000']) expect(tokens).toContain(t);
    expect(tokens.find((t) => t.startsWith('TARGMAX='))).toMatch(/PRIVMSG:4.*JOIN:10/);
    for (const line of isupportLines(tokens)) expect(line.length).toBeLessThanOrEqual(13);
  });
});
