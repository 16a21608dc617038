// "Other computers" for tests: network namespaces joined by veth pairs, so a client process really
// reaches the server over a network interface and a non-loopback address. Needs root and iproute2;
// tests skip loudly without them, and fail instead when PARLEY_REQUIRE_ALL=1 (CI).
import { execFileSync } from 'node:child_process';

export interface Lan {
  /** Namespace the server runs in. */
  serverNs: string;
  /** One namespace per "computer", each with the address it reaches the server at. */
  hosts: { ns: string; serverAddress: string }[];
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `parley-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `ip netns does not work here: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** A server namespace and `count` client namespaces, each linked to the server by its own veth pair. */
export function createLan(count: number): Lan {
  const tag = (process.pid % 10000).toString(36);
  const subnet = 16 + (process.pid % 200);
  const serverNs = `parley-srv-${tag}`;
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
  try {
    ip('netns', 'add', serverNs);
    made.push(serverNs);
    ip('-n', serverNs, 'link', 'set', 'lo', 'up');
    const hosts: Lan['hosts'] = [];
    for (let i = 1; i <= count; i++) {
      const ns = `parley-pc${i}-${tag}`;
      ip('netns', 'add', ns);
      made.push(ns);
      const a = `pv${tag}s${i}`;
      const b = `pv${tag}c${i}`;
      ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      ip('link', 'set', a, 'netns', serverNs);
      ip('link', 'set', b, 'netns', ns);
      const net = `10.${subnet}.${i}`;
      ip('-n', serverNs, 'addr', 'add', `${net}.1/24`, 'dev', a);
      ip('-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', b);
      ip('-n', serverNs, 'link', 'set', a, 'up');
      ip('-n', ns, 'link', 'set', b, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      hosts.push({ ns, serverAddress: `${net}.1` });
    }
    return { serverNs, hosts, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}
