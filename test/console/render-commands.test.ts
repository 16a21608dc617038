// Row-by-row tables for the console client's pure parts: what reaches the terminal, and what each
// typed line becomes.
import { describe, expect, it } from 'vitest';
import { interpret } from '../../console-client/commands.js';
import { formatMessage, neutralise, pickStyle } from '../../console-client/render.js';

describe('neutralise', () => {
  it.each([
    ['plain text', 'plain text'],
    ['tab\tkept', 'tab\tkept'],
    ['\u001b[31mred', '^[[31mred'],
    ['osc \u001b]0;title\u0007', 'osc ^[]0;title^G'],
    ['cr\roverwrite', 'cr^Moverwrite'],
    ['nl\nhere', 'nl^Jhere'],
    ['del\u007f', 'del^?'],
    ['c1 csi \u009b2J', 'c1 csi <U+009B>2J'],
    ['rtl \u202eoverride', 'rtl <U+202E>override'],
    ['isolate \u2067x\u2069', 'isolate <U+2067>x<U+2069>'],
    ['emoji 🙂 and ü', 'emoji 🙂 and ü'],
  ])('%j -> %j', (input, out) => {
    expect(neutralise(input)).toBe(out);
  });

  it('multi-line messages keep their lines, each neutralised and indented', () => {
    const line = formatMessage({ type: 'message', room: 'r', from: 'a', text: 'one\ntwo\u001b[H', seq: 1, ts: '2026-01-01T00:00:00.000Z' }, 'me', 'r', pickStyle(false, {}));
    expect(line).toMatch(/^\[\d\d:\d\d\] <a> one\n {4}two\^\[\[H$/);
  });

  it('colour only on a TTY without NO_COLOR', () => {
    expect(pickStyle(true, {}).bold('x')).toContain('\u001b[');
    expect(pickStyle(true, { NO_COLOR: '1' }).bold('x')).toBe('x');
    expect(pickStyle(false, {}).bold('x')).toBe('x');
  });
});

describe('interpret', () => {
  const ctx = { current: 'general', oldestShown: 40 };
  it.each([
    ['hello', { kind: 'request', req: { type: 'say', room: 'general', text: 'hello' } }],
    ['//slash', { kind: 'request', req: { type: 'say', room: 'general', text: '/slash' } }],
    ['/join #Dev', { kind: 'request', req: { type: 'join', room: 'Dev' }, switchTo: 'Dev' }],
    ['/join', { kind: 'usage' }],
    ['/join bad room', { kind: 'usage' }],
    ['/leave', { kind: 'request', req: { type: 'leave', room: 'general' } }],
    ['/leave other', { kind: 'request', req: { type: 'leave', room: 'other' } }],
    ['/msg bob hi there', { kind: 'request', req: { type: 'dm', to: 'bob', text: 'hi there' } }],
    ['/msg bob', { kind: 'usage' }],
    ['/me waves', { kind: 'request', req: { type: 'say', room: 'general', text: 'waves', action: true } }],
    ['/users', { kind: 'request', req: { type: 'who', room: 'general' } }],
    ['/users *', { kind: 'request', req: { type: 'who', limit: 100 } }],
    ['/rooms', { kind: 'request', req: { type: 'rooms' } }],
    ['/history', { kind: 'request', req: { type: 'history', room: 'general', limit: 20, before: 40 } }],
    ['/history 0', { kind: 'usage' }],
  ])('%j', (line, expected) => {
    expect(interpret(line, ctx)).toMatchObject(expected);
  });

  it.each([
    ['/history', { kind: 'request', req: { type: 'history', with: 'bob', limit: 20, before: 7 } }],
    ['/history 5', { kind: 'request', req: { type: 'history', with: 'bob', limit: 5, before: 7 } }],
    ['/me waves', { kind: 'request', req: { type: 'dm', to: 'bob', text: 'waves', action: true } }],
  ])('in a conversation window: %j', (line, expected) => {
    expect(interpret(line, { current: undefined, query: 'bob', oldestShown: 7 })).toMatchObject(expected);
  });

  it.each([
    ['/time', { kind: 'request', req: { type: 'time' } }],
    ['/HELP', { kind: 'help' }],
    ['/quit', { kind: 'quit' }],
    ['/frobnicate', { kind: 'usage' }],
  ])('%j', (line, expected) => {
    expect(interpret(line, ctx)).toMatchObject(expected);
  });

  it('blank lines do nothing; text outside a room is refused', () => {
    expect(interpret('   ', ctx)).toBeUndefined();
    expect(interpret('hi', { current: undefined, oldestShown: undefined })).toMatchObject({ kind: 'usage' });
  });
});

describe('names and mentions', () => {
  it('spells out zero-width characters in names and at the start of a line, not inside text', async () => {
    const { neutralise, neutraliseName, mentions } = await import('../../console-client/render.js');
    expect(neutraliseName('al\u200bice')).toBe('al<U+200B>ice');
    expect(neutralise('\u200bhello')).toBe('<U+200B>hello');
    expect(neutralise('family \u{1F468}\u200d\u{1F469}')).toBe('family \u{1F468}\u200d\u{1F469}');
    expect(neutralise('a\u202eb')).toBe('a<U+202E>b');
    expect(mentions('hey Amy, look', 'amy')).toBe(true);
    expect(mentions('amyx is here', 'amy')).toBe(false);
    expect(mentions('a.b', 'a.b')).toBe(true);
    expect(mentions('axb', 'a.b')).toBe(false);
  });

  it('usage says the form once; unknown commands and aliases', () => {
    const ctx = { current: 'general', oldestShown: undefined };
    expect(interpret('/msg bob', ctx)).toEqual({ kind: 'usage', code: 'usage', message: '/msg NAME TEXT' });
    expect(interpret('/frob', ctx)).toMatchObject({ kind: 'usage', code: 'unknown command' });
    expect(interpret('/j dev', ctx)).toMatchObject({ kind: 'request', req: { type: 'join', room: 'dev' }, switchTo: 'dev' });
    expect(interpret('/part', ctx)).toMatchObject({ kind: 'request', req: { type: 'leave', room: 'general' } });
    expect(interpret('/list', ctx)).toMatchObject({ kind: 'request', req: { type: 'rooms' } });
    expect(interpret('/topic', ctx)).toMatchObject({ kind: 'request', req: { type: 'topic', room: 'general' } });
    expect(interpret('/away', ctx)).toEqual({ kind: 'request', req: { type: 'away' } });
    expect(interpret('hi', { current: undefined, query: 'bob', oldestShown: undefined })).toMatchObject({ kind: 'request', req: { type: 'dm', to: 'bob', text: 'hi' } });
  });
});
