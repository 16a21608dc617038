// A cluster spread over network namespaces: Redis in one, each Parley node in its own, and a client
// namespace. Every node has two links, one to Redis and one to the clients, so a test can cut a
// node off from Redis alone (a network partition) while its clients stay connected.
//
// The test process stays in the machine's own namespace and never gets an address on these links:
// it reaches the nodes through Unix sockets (namespaces do not separate the filesystem) served by a
// small forwarder running in the client namespace. Needs root and iproute2, like test/helpers/netns.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ip, netns } from '../helpers/netns.js';
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

export function createClusterLan(nodeCount: number): ClusterLan {
  // Salted: a cluster LAN and an "other computers" LAN of one process never share a subnet.
  const n = netns(97);
  const redisNs = `parley-cr-${n.tag}`;
  const clientNs = `parley-cc-${n.tag}`;
  const destroy = (): void => n.destroy();
  try {
    n.add(redisNs);
    n.add(clientNs);
    const nodes: ClusterLan['nodes'] = [];
    for (let i = 0; i < nodeCount; i++) {
      const ns = `parley-cn${i}-${n.tag}`;
      n.add(ns);
      const toRedis = n.link(redisNs, ns, 10 + i, `cr${i}`);
      const toClients = n.link(clientNs, ns, 50 + i, `cc${i}`);
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
