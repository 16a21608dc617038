// The echo matcher on its own: which messages coming back are this connection's, in every order a
// bus may deliver them, and that nothing is shown out of order or lost while an ack is awaited.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { EchoMatcher } from '../../server/irc/echo.js';
import { Outgoing } from '../../server/outgoing.js';

function setup() {
  const log: string[] = [];
  const m = new EchoMatcher<string>({
    show: (out) => log.push(`show ${(out.event as ChatMessage).text}`),
    echo: (own, _out, msg) => log.push(`echo ${own} ${msg.text}`),
  });
  const msg = (seq: number, from: string, text: string): [Outgoing, ChatMessage, boolean] => {
    const m: ChatMessage = { type: 'message', room: 'r', from, text, seq, ts: '2030-01-01T00:00:00.000Z' };
    return [new Outgoing(m), m, from === 'me'];
  };
  return { log, m, msg };
}

describe('EchoMatcher', () => {
  it('nothing in flight: every message is shown, own ones too (another session sent them)', () => {
    const { log, m, msg } = setup();
    m.message('#r', ...msg(1, 'bob', 'hi'));
    m.message('#r', ...msg(2, 'me', 'from my phone'));
    expect(log).toEqual(['show hi', 'show from my phone']);
  });

  it('the message comes before its ack (the local bus): held, then echoed when the ack names its seq', () => {
    const { log, m, msg } = setup();
    m.sent('#r', 'A');
    m.message('#r', ...msg(5, 'me', 'mine'));
    m.message('#r', ...msg(6, 'bob', 'after mine'));
    expect(log).toEqual([]);
    m.settled('#r', 'A', 5);
    expect(log).toEqual(['echo A mine', 'show after mine']);
  });

  it('two sends in flight and another session in between: each ack claims its own seq, the rest is shown in order', () => {
    const { log, m, msg } = setup();
    m.sent('#r', 'A');
    m.sent('#r', 'B');
    m.message('#r', ...msg(1, 'me', 'a'));
    m.message('#r', ...msg(2, 'me', 'other session'));
    m.message('#r', ...msg(3, 'me', 'b'));
    m.settled('#r', 'A', 1);
    expect(log).toEqual(['echo A a']);
    m.settled('#r', 'B', 3);
    expect(log).toEqual(['echo A a', 'show other session', 'echo B b']);
  });

  it('a refused send releases what waited behind it; an ack whose message never came releases the rest', () => {
    const { log, m, msg } = setup();
    m.sent('#r', 'A');
    m.sent('#r', 'B');
    m.message('#r', ...msg(7, 'me', 'b'));
    m.settled('#r', 'A', undefined);
    expect(log).toEqual([]);
    m.settled('#r', 'B', 7);
    expect(log).toEqual(['echo B b']);
    m.sent('#r', 'C');
    m.message('#r', ...msg(8, 'me', 'not C'));
    m.settled('#r', 'C', 9);
    expect(log).toEqual(['echo B b', 'show not C']);
    m.message('#r', ...msg(10, 'bob', 'later'));
    expect(log.at(-1)).toBe('show later');
  });

  it('conversations are independent', () => {
    const { log, m, msg } = setup();
    m.sent('#r', 'A');
    m.message('#r', ...msg(1, 'me', 'held'));
    m.message('@bob', ...msg(1, 'bob', 'a dm'));
    expect(log).toEqual(['show a dm']);
  });
});
