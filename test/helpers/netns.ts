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

export function ip(...args: string[]): void {
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

/**
 * Builds namespaces and the veth pairs between them for one test process (names tagged with its pid,
 * addresses in 10.<subnet>.0.0/16), and tears down whatever it made, newest first.
 */
export interface Netns {
  readonly tag: string;
  /** A namespace with its loopback up. */
  add(ns: string): void;
  /** A veth pair between two namespaces on 10.<subnet>.<net>.0/24: `a` (.1) in nsA, `b` (.2) in nsB. */
  link(nsA: string, nsB: string, net: number, name: string): { a: string; b: string; ifA: string };
  destroy(): void;
}

/** `salt` keeps two kinds of LAN of one process on different subnets. */
export function netns(salt = 0): Netns {
  const tag = (process.pid % 10000).toString(36);
  const subnet = 16 + ((process.pid + salt) % 200);
  const made: string[] = [];
  return {
    tag,
    add(ns) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    },
    link(nsA, nsB, net, name) {
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
    },
    destroy() {
      for (const ns of made.reverse()) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // already gone
        }
      }
      made.length = 0;
    },
  };
}

/** A server namespace and `count` client namespaces, each linked to the server by its own veth pair. */
export function createLan(count: number): Lan {
  const n = netns();
  const serverNs = `parley-srv-${n.tag}`;
  const destroy = (): void => n.destroy();
  try {
    n.add(serverNs);
    const hosts: Lan['hosts'] = [];
    for (let i = 1; i <= count; i++) {
      const ns = `parley-pc${i}-${n.tag}`;
      n.add(ns);
      hosts.push({ ns, serverAddress: n.link(serverNs, ns, i, `pv${i}`).a });
    }
    return { serverNs, hosts, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}
