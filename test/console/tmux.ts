// A console client on a real terminal: tmux gives it a pty, types keys and shows the screen. Shared by
// the terminal tests; every wait polls the screen, none sleeps and then asserts.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { CONSOLE_JS, startServer, type RunningServer } from '../helpers/server.js';
import type { TcpClient } from '../helpers/tcp-client.js';

export function tmuxMissing(): string | undefined {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'tmux is not installed (apt-get install tmux)';
  }
}

export interface Term {
  /** The visible pane. */
  screen(): string;
  /** The pane with its scrollback, wrapped lines joined. */
  all(): string;
  /** The visible pane with its colours and attributes as escape sequences (start the client without NO_COLOR). */
  styled(): string;
  waitScreen(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Types text literally, then Enter. */
  line(text: string): void;
  /** Types text literally, no Enter. */
  typeText(text: string): void;
  /** tmux key names: 'Tab', 'M-1', 'Enter'. */
  keys(...names: string[]): void;
  kill(): void;
}

let n = 0;
export function startTerm(socket: string, args: string[], env: Record<string, string> = {}, size = { x: 120, y: 30 }): Term {
  const session = `t${process.pid}-${n++}`;
  const tmux = (...a: string[]): string => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
  const envArgs = Object.entries({ NO_COLOR: '1', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const quoted = [process.execPath, CONSOLE_JS, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  // remain-on-exit keeps the pane (and what the client printed last) after it exits.
  tmux('new-session', '-d', '-s', session, '-x', String(size.x), '-y', String(size.y), ...envArgs, quoted);
  tmux('set-option', '-t', session, 'remain-on-exit', 'on');
  const screen = (): string => tmux('capture-pane', '-p', '-t', session);
  const all = (): string => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);
  return {
    screen,
    all,
    styled: () => tmux('capture-pane', '-p', '-e', '-t', session),
    async waitScreen(re, timeoutMs = 10_000) {
      const t0 = Date.now();
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() - t0 > timeoutMs) throw new Error(`${re} not on screen within ${timeoutMs} ms:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    line(text) {
      tmux('send-keys', '-t', session, '-l', text);
      tmux('send-keys', '-t', session, 'Enter');
    },
    typeText(text) {
      tmux('send-keys', '-t', session, '-l', text);
    },
    keys(...names) {
      tmux('send-keys', '-t', session, ...names);
    },
    kill() {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // gone already
      }
    },
  };
}

export function killTmuxServer(socket: string): void {
  try {
    execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/**
 * A describe block's server, and the terminals and TCP peers its tests open: the server starts before
 * the first test; after the last, every terminal and peer is closed, the tmux server killed and the
 * server stopped. Call inside the describe.
 */
export class TerminalSuite {
  private running: RunningServer | undefined;
  readonly terms: Term[] = [];
  readonly peers: TcpClient[] = [];

  constructor(socket: string) {
    beforeAll(async () => {
      this.running = await startServer();
    });
    afterAll(async () => {
      for (const t of this.terms) t.kill();
      killTmuxServer(socket);
      for (const p of this.peers) p.close();
      await this.running?.stop();
    });
  }

  get server(): RunningServer {
    if (!this.running) throw new Error('the suite\'s server has not started');
    return this.running;
  }
}
