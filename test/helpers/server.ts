// Spawns the real built server (dist/server/main.js) on ephemeral ports and waits for its listening
// line, so end-to-end tests exercise exactly what users run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const SERVER_JS = join(ROOT, 'dist', 'server', 'main.js');
export const CONSOLE_JS = join(ROOT, 'dist', 'console-client', 'main.js');

export interface RunningServer {
  tcpPort: number;
  httpPort: number;
  /** The IRC listener's port; undefined when the server runs with --no-irc. */
  ircPort: number | undefined;
  proc: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix = 'parley-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts a server. Defaults: loopback, ports 0, in-memory store, no rate limits, log level info. Any flag in `args`
 * overrides them (later flags win), e.g. ['--data-dir', dir] together with ['--memory=false'].
 */
export function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}, opts: { prefix?: string[] } = {}): Promise<RunningServer> {
  // --irc-port 0 too: the IRC listener is on by default, and 6667 (or 6697 with TLS) cannot be shared by parallel tests.
  const base = ['--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--irc-tls-port', '0'];
  if (!args.some((a) => a.startsWith('--data-dir') || a.startsWith('--memory'))) base.push('--memory');
  // Tests send faster than a person types; the rate limits have tests of their own, which pass
  // --rate-limit (or --no-rate-limit=false) to keep them on.
  if (!args.some((a) => a.startsWith('--rate-limit') || a.startsWith('--no-rate-limit'))) base.push('--no-rate-limit');
  // `prefix` runs the server through another command, e.g. ['ip', 'netns', 'exec', NS] (which execs,
  // so signals still reach node).
  const [cmd, ...pre] = [...(opts.prefix ?? []), process.execPath];
  const proc = spawn(cmd!, [...pre, SERVER_JS, ...base, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let err = '';
  proc.stdout!.resume();
  return new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rejectStart(new Error(`server did not start within 15 s; stderr:\n${err}`));
    }, 15_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      err += chunk;
      // The whole line (its LF seen), so the optional parts after http= (tls, metrics=, irc=, data=)
      // are never cut off.
      const line = /parley listening tcp=\S+:(\d+) http=\S+:(\d+)([^\n]*)\n/.exec(err);
      const irc = line ? / irc=\S+:(\d+)/.exec(line[3]!) : null;
      const m = line ? [line[0], line[1], line[2], irc?.[1]] : null;
      if (m && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        const exited = new Promise<number | null>((r) => {
          if (proc.exitCode !== null || proc.signalCode !== null) r(proc.exitCode);
          else proc.once('exit', (code) => r(code));
        });
        resolveStart({
          tcpPort: Number(m[1]),
          httpPort: Number(m[2]),
          ircPort: m[3] === undefined ? undefined : Number(m[3]),
          proc,
          stderr: () => err,
          stop: (signal = 'SIGTERM') => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
            return exited;
          },
        });
      }
    });
    proc.once('exit', (code) => {
      if (timer.hasRef()) {
        clearTimeout(timer);
        rejectStart(new Error(`server exited with ${code} before listening; stderr:\n${err}`));
      }
    });
  });
}
