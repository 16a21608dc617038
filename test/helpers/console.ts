// Runs the real console client (dist/console-client/main.js) with piped stdin/stdout, as a script
// user would, and waits on what it prints.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CONSOLE_JS } from './server.js';

export interface ConsoleProc {
  proc: ChildProcessWithoutNullStreams;
  /** stdout so far. */
  out(): string;
  err(): string;
  /** Resolves once stdout matches; rejects with the output after timeoutMs. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  type(line: string): void;
  /** Closes stdin and resolves with the exit code. */
  end(): Promise<number | null>;
  exited: Promise<number | null>;
}

export function runConsole(args: string[], opts: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): ConsoleProc {
  const [cmd, ...pre] = [...(opts.prefix ?? []), process.execPath];
  const proc = spawn(cmd!, [...pre, CONSOLE_JS, ...args], { env: { ...process.env, NO_COLOR: '1', ...opts.env } });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    out: () => out,
    err: () => err,
    waitFor: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = (): void => {
          if (re.test(out)) resolve();
          else if (Date.now() - t0 > timeoutMs) reject(new Error(`${re} not printed within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
          else setTimeout(poll, 20);
        };
        poll();
      }),
    type: (line) => proc.stdin.write(line + '\n'),
    end: () => {
      proc.stdin.end();
      return exited;
    },
    exited,
  };
}
