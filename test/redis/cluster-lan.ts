// A cluster spread over network namespaces: Redis in one, each Parley node in its own, and a client
// namespace. Every node has two links, one to Redis and one to the clients, so a test can cut a
// node off from Redis alone (a network partition) while its clients stay connected.
//
// The test process stays in the machine's own namespace and never gets an address on these links:
// it reaches the nodes through Unix sockets (namespaces do not separate the filesystem) served by a
// small forwarder running in the client namespace. Needs root and iproute2, like test/helpers/netns.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../helpers/server.js';

export interface ClusterLan {
  redisNs: string;
  clientNs: string;
  nodes: { ns: string; redisAddress: string; clientAddress: string; redisLink: string }[];
  /** Unix socket directory used by forwarders. */
  dir: string;
  /** Cuts (or restores) the link between node i and Redis. */
  partition(i: number, cut: boolean): void;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createClusterLan(nodeCount: number): ClusterLan {
  const tag = (process.pid % 10000).toString(36);
  const subnet = 16 + ((process.pid + 97) % 200);
  const redisNs = `parley-cr-${tag}`;
  const clientNs = `parley-cc-${tag}`;
  const made: string[] = [];
  const destroy = (): void => {
    for (const ns of made.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  const addNs = (ns: string): void => {
    ip('netns', 'add', ns);
    made.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  };
  /** A veth pair between two namespaces on 10.<subnet>.<net>.0/24; returns both addresses. */
  const link = (nsA: string, nsB: string, net: number, name: string): { a: string; b: string; ifA: string } => {
    const ifA = `${name}a${tag}`;
    const ifB = `${name}b${tag}`;
    ip('link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB);
    ip('link', 'set', ifA, 'netns', nsA);
    ip('link', 'set', ifB, 'netns', nsB);
    const a = `10.${subnet}.${net}.1`;
    const b = `10.${subnet}.${net}.2`;
    ip('-n', nsA, 'addr', 'add', `${a}/24`, 'dev', ifA);
    ip('-n', nsB, 'addr', 'add', `${b}/24`, 'dev', ifB);
    ip('-n', nsA, 'link', 'set', ifA, 'up');
    ip('-n', nsB, 'link', 'set', ifB, 'up');
    return { a, b, ifA };
  };
  try {
    addNs(redisNs);
    addNs(clientNs);
    const nodes: ClusterLan['nodes'] = [];
    for (let i = 0; i < nodeCount; i++) {
      const ns = `parley-cn${i}-${tag}`;
      addNs(ns);
      const toRedis = link(redisNs, ns, 10 + i, `cr${i}`);
      const toClients = link(clientNs, ns, 50 + i, `cc${i}`);
      nodes.push({ ns, redisAddress: toRedis.a, clientAddress: toClients.b, redisLink: toRedis.ifA });
    }
    return {
      redisNs,
      clientNs,
      nodes,
      dir: tempDir('parley-lan-'),
      partition: (i, cut) => ip('-n', redisNs, 'link', 'set', nodes[i]!.redisLink, cut ? 'down' : 'up'),
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}

/** Runs, in `ns`, a forwarder from Unix socket `dir/<name>.sock` to each `host:port`. */
export function forward(ns: string, dir: string, routes: Record<string, string>): Promise<ChildProcess> {
  const source = `
const net = require('node:net');
const routes = ${JSON.stringify(routes)};
const dir = ${JSON.stringify(dir)};
let ready = 0;
for (const [name, target] of Object.entries(routes)) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  net.createServer((c) => {
    const up = net.connect({ host, port });
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  }).listen(dir + '/' + name + '.sock', () => { if (++ready === Object.keys(routes).length) console.log('forwarding'); });
}`;
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('forwarder did not start')), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('forwarding')) {
        clearTimeout(timer);
        resolve(proc);
      }
    });
    proc.once('exit', (code) => reject(new Error(`forwarder exited with ${code}`)));
  });
}

export function sock(dir: string, name: string): string {
  return join(dir, `${name}.sock`);
}
