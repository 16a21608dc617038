// A client that vanishes without a FIN, for real: the server and its clients run inside a private
// network namespace that has only a loopback interface, and a `blackhole` queueing discipline on that
// interface then drops every packet. Nothing leaves the namespace and no host firewall is touched; the
// addresses are 127.0.0.1 as everywhere else. Needs root, iproute2 (`ip`, `tc`, `ss`) and the
// blackhole qdisc; tests skip loudly without them (helpers/require.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why the blackhole cannot be used here, or undefined when it can. */
export function blackholeUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `parley-bh-probe-${process.pid}`;
  try {
    run('ip', ['netns', 'add', probe]);
    try {
      run('ip', ['-n', probe, 'link', 'set', 'lo', 'up']);
      run('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'blackhole']);
      run('ip', ['netns', 'exec', probe, 'ss', '-Htn']);
    } finally {
      run('ip', ['netns', 'del', probe]);
    }
    return undefined;
  } catch (err) {
    return `ip netns / tc blackhole / ss do not work here: ${(err as Error).message.split('\n')[0]}`;
  }
}

export interface Island {
  ns: string;
  /** Prefix for startServer's `prefix` option: runs the server inside the namespace. */
  prefix: string[];
  /** Every packet on the namespace's loopback is dropped from now on (true) or delivered again (false). */
  blackhole(on: boolean): void;
  /** TCP connections in the namespace in state ESTABLISHED from local port `sport` to `dport`. */
  established(sport: number, dport: number): number;
  destroy(): void;
}

export function createIsland(): Island {
  const ns = `parley-island-${process.pid}`;
  run('ip', ['netns', 'add', ns]);
  try {
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    run('ip', ['netns', 'del', ns]);
    throw err;
  }
  let holed = false;
  return {
    ns,
    prefix: ['ip', 'netns', 'exec', ns],
    blackhole(on) {
      if (on === holed) return;
      run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', on ? 'add' : 'del', 'dev', 'lo', 'root', ...(on ? ['blackhole'] : [])]);
      holed = on;
    },
    established(sport, dport) {
      const out = run('ip', ['netns', 'exec', ns, 'ss', '-Htn', 'state', 'established', `( sport = :${sport} and dport = :${dport} )`]);
      return out.split('\n').filter((l) => l.trim() !== '').length;
    },
    destroy() {
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * A line client that runs inside the namespace (the test process cannot enter it): it connects, says
 * hello, prints `local <port>` and then every line the server sends, and never writes again. Plain
 * JavaScript handed to `node -e`, so it needs nothing built.
 */
const CLIENT_JS = `
const net = require('node:net');
const [port, name] = process.argv.slice(1);
const s = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
  process.stdout.write('local ' + s.localPort + '\\n');
  s.write(JSON.stringify({ type: 'hello', name, protocol: 1, id: 'h' }) + '\\n');
});
s.setEncoding('utf8');
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => process.stdout.write('socket-error ' + e.message + '\\n'));
s.on('close', () => { process.stdout.write('socket-closed\\n'); });
`;

export interface IslandClient {
  proc: ChildProcess;
  /** Everything it printed so far. */
  out(): string;
  /** Resolves with the first match of `re` in its output; rejects after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  kill(): void;
}

export function islandClient(island: Island, port: number, name: string): IslandClient {
  const proc = spawn('ip', ['netns', 'exec', island.ns, process.execPath, '-e', CLIENT_JS, String(port), name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let waiters: (() => void)[] = [];
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    out += d;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  proc.stderr!.resume();
  return {
    proc,
    out: () => out,
    waitFor: (re, timeoutMs) =>
      new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no ${re} within ${timeoutMs} ms; client printed: ${out}`)), timeoutMs);
        const check = (): void => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(timer);
            res(m);
          } else waiters.push(check);
        };
        check();
      }),
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
