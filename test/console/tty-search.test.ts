// /search on a real terminal (tmux): results in the current window with where and when each is, the
// matched words marked (bold, underlined), /search alone for older matches, -here for this window
// only, and the refusals said once.
import { describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/require.js';
import { helloTcp } from '../helpers/tcp-client.js';
import { startTerm, TerminalSuite, tmuxMissing } from './tmux.js';

const skip = skipUnless(tmuxMissing(), 'the /search terminal test of the console client');
const socket = `parley-search-${process.pid}`;
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/;

describe.skipIf(skip)('console client: /search on a terminal', () => {
  const suite = new TerminalSuite(socket);
  const { terms, peers } = suite;

  it('shows matches newest first with the words marked, pages older with /search, and -here keeps to the window', async () => {
    const bo = await helloTcp(suite.server.tcpPort, 'bo');
    peers.push(bo);
    for (const room of ['general', 'dev']) {
      bo.send({ type: 'join', room, id: `j-${room}` });
      await bo.next((e) => e.re === `j-${room}`);
    }
    const say = async (room: string, text: string, id: string): Promise<void> => {
      bo.send({ type: 'say', room, text, id });
      await bo.next((e) => e.re === id);
    };
    await say('general', 'Deploy on Friday', 'first');
    for (let i = 1; i <= 21; i++) await say('general', `deploy number ${i}`, `n${i}`);
    await say('dev', 'deploy from dev', 'dev');
    await say('general', 'unrelated chatter', 'other');

    // Colours on (NO_COLOR empty): the marks are what is tested.
    const t = startTerm(socket, ['--host', '127.0.0.1', '--port', String(suite.server.tcpPort), '--name', 'amy'], { NO_COLOR: '' });
    terms.push(t);
    await t.waitScreen(/\[#general\] >\s*$/m);
    t.line('/join dev');
    await t.waitScreen(/\[#dev\] >\s*$/m);
    t.line('/search DEPLOY');
    await t.waitScreen(/\/search alone shows older matches/);
    // Only what follows the answer: the join's history above it has other lines.
    const first = t.all().slice(t.all().lastIndexOf('matches for'));
    expect(first).toMatch(/matches for "DEPLOY", newest first:/);
    expect(first).toMatch(/\[\d{4}-\d\d-\d\d \d\d:\d\d\] \[#dev\] <bo~> deploy from dev/);
    expect(first).toMatch(/\[#general\] <bo~> deploy number 21/);
    // A page is 20: the dev one and 21..3; the oldest three come with /search alone.
    expect(first).toMatch(/deploy number 3\n/);
    expect(first).not.toMatch(/deploy number 2\n/);
    expect(first).not.toMatch(/unrelated/);
    const marked = t.styled().split('\n').find((l) => l.includes('[#dev]') && l.includes('from dev'))!;
    // The word is wrapped in attributes, the rest of the text is not.
    expect(marked).toMatch(new RegExp(`${SGR.source}deploy${SGR.source}`));
    expect(marked).not.toMatch(new RegExp(`${SGR.source}from`));

    t.line('/search');
    await t.waitScreen(/Deploy on Friday/);
    expect(t.all()).toMatch(/older matches for "DEPLOY", newest first:\n.*deploy number 2\n.*deploy number 1\n.*Deploy on Friday/);
    t.line('/search');
    await t.waitScreen(/!! no more: no older matches for "DEPLOY"$/m);

    // -here: the current window's room only.
    t.line('/search -here deploy');
    await t.waitScreen(/matches for "deploy" in #dev, newest first:/);
    expect(t.screen()).toMatch(/matches for "deploy" in #dev, newest first:\n.*deploy from dev\n(?!.*deploy number)/);

    t.line('/search ?!');
    await t.waitScreen(/!! usage: \/search \[-here\] WORDS \(letters or digits to look for\)$/m);
    t.line('/search nothing-like-this');
    await t.waitScreen(/no messages found for "nothing-like-this"/);
    t.line('/help');
    await t.waitScreen(/\/search \[-here\] WORDS/);
    t.line('/quit');
  });
});
