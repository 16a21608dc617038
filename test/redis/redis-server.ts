// A real redis-server for tests: its own port and temp dir, never the system service. Tests that need
// it skip loudly when redis-server is not installed (and fail under PARLEY_REQUIRE_ALL=1).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { tempDir } from '../helpers/server.js';
import { skipUnless } from '../helpers/require.js';

export function redisMissing(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'redis-server is not installed (apt-get install redis-server)';
  }
}

export function skipWithoutRedis(what: string): boolean {
  return skipUnless(redisMissing(), what);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  proc: ChildProcess;
  /** Stops it (SIGKILL by default: a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and dir (an AOF, if enabled, is replayed). */
  restart(): Promise<void>;
  /** Runs redis-cli against it. */
  cli(...args: string[]): string;
}

export interface RedisOptions {
  appendonly?: boolean;
  password?: string;
  extra?: string[];
}

function up(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server on ${port} did not come up within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = tempDir('parley-redis-');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  if (opts.appendonly) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  args.push(...(opts.extra ?? []));
  const r: TestRedis = {
    port,
    dir,
    url: `redis://${opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`}127.0.0.1:${port}`,
    proc: spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] }),
    kill: async (signal = 'SIGKILL') => {
      const p = r.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((res) => p.once('exit', () => res()));
      p.kill(signal);
      await exited;
    },
    restart: async () => {
      await r.kill();
      r.proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
      await up(port, 10_000);
    },
    cli: (...cmd: string[]) =>
      execFileSync('redis-cli', ['-p', String(port), ...(opts.password === undefined ? [] : ['-a', opts.password, '--no-auth-warning']), ...cmd], { encoding: 'utf8' }),
  };
  await up(port, 10_000);
  return r;
}
