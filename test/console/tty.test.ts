// The interactive client on a real terminal: tmux gives it a pty, types keys and shows the screen.
// This is where "incoming lines print above the prompt without garbling what you are typing" and the
// name prompt are checked as a person would see them.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/require.js';
import { CONSOLE_JS, startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';

function tmuxMissing(): string | undefined {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'tmux is not installed (apt-get install tmux)';
  }
}
const skip = skipUnless(tmuxMissing(), 'the terminal (pty) tests of the console client');
const session = `parley-tty-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', session);

async function waitScreen(re: RegExp, timeoutMs = 10_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${re} not on screen within ${timeoutMs} ms:\n${s}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip)('console client on a terminal', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    await server.stop();
  });

  it('asks for a name, asks again when taken, and keeps half-typed input intact while messages arrive', async () => {
    const holder = await helloTcp(server.tcpPort, 'zed');
    holder.send({ type: 'join', room: 'general' });
    await holder.next((e) => e.type === 'history');
    const cmd = `${process.execPath} ${CONSOLE_JS} --host 127.0.0.1 --port ${server.tcpPort}`;
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', '-e', 'NO_COLOR=1', cmd);
    await waitScreen(/Your name:\s*$/m);
    tmux('send-keys', '-t', session, 'ZED', 'Enter');
    await waitScreen(/already online/);
    await waitScreen(/Your name:\s*$/m);
    tmux('send-keys', '-t', session, 'amy', 'Enter');
    await waitScreen(/\[#general\] >\s*$/m);
    tmux('send-keys', '-t', session, '-l', 'half-typed words');
    await waitScreen(/> half-typed words$/m);
    holder.send({ type: 'say', room: 'general', text: 'interrupting \u001b[2J you' });
    // The message and the redrawn prompt are two writes; the screen is read once both have landed.
    const s = await waitScreen(/<zed~> interrupting.*\n.*\n.*> half-typed words\s*$/);
    const lines = s.trimEnd().split('\n');
    // The message sits on its own line above the status line and the prompt, and the prompt still
    // holds the typing.
    expect(lines.at(-1)).toBe('[#general] > half-typed words');
    expect(lines.at(-2)).toBe('amy [1:#general]');
    expect(lines.at(-3)).toMatch(/^\[\d\d:\d\d\] <zed~> interrupting \^\[\[2J you$/);
    tmux('send-keys', '-t', session, 'Enter');
    await holder.next((e) => e.type === 'message' && e.text === 'half-typed words');
    tmux('send-keys', '-t', session, '/quit', 'Enter');
    await holder.next((e) => e.type === 'left' && e.name === 'amy');
    holder.close();
  });
});
