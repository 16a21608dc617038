// How many chat connections (TCP, TLS, WebSocket over HTTP/1.1 or HTTP/2) may be open at once: from
// one address, and in all. A connection over either cap is refused before it costs a session, with a
// reason the client can show. Plain HTTP (the web client's files, /healthz, /metrics) is not counted:
// those requests are short and Node's own timeouts end idle ones, so a flood of idle chat connections
// from one address never locks anyone out of /healthz, nor other addresses out of chat.
import { isIPv4, isIPv6 } from 'node:net';

/** Why a connection was refused; `message` is for people, as in protocol errors. */
export interface Refusal {
  code: 'too_many_connections';
  /** Which cap: this address's, or the server's. */
  scope: 'address' | 'server';
  message: string;
}

export type Admission = { ok: true; key: string } | { ok: false; refusal: Refusal };

/**
 * The unit one cap counts: an IPv4 address (an IPv4-mapped IPv6 one included), or an IPv6 /64. One
 * subscriber is routinely given a whole /64, so counting single IPv6 addresses would hand one client
 * 2^64 allowances.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const expand = (part: string): string[] => {
    if (part === '') return [];
    const groups = part.split(':');
    const last = groups[groups.length - 1]!;
    if (last.includes('.')) {
      // An embedded IPv4 tail (::1.2.3.4) is the last two groups.
      const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
      groups.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
    }
    return groups;
  };
  const gap = address.indexOf('::');
  const head = expand(gap < 0 ? address : address.slice(0, gap));
  const tail = gap < 0 ? [] : expand(address.slice(gap + 2));
  const zeros = Array.from({ length: 8 - head.length - tail.length }, () => '0');
  return [...head, ...zeros, ...tail].map((g) => parseInt(g, 16).toString(16));
}

export class ConnectionLimits {
  private readonly open = new Map<string, number>();
  private total = 0;

  /** Either cap may be 0: no cap. */
  constructor(
    readonly perAddress: number,
    readonly overall: number,
  ) {}

  /** Chat connections open now. */
  get count(): number {
    return this.total;
  }

  /** Counts a new connection from `address`, or refuses it; an admitted one must be released once. */
  admit(address: string | undefined): Admission {
    const key = addressKey(address);
    const mine = this.open.get(key) ?? 0;
    if (this.overall > 0 && this.total >= this.overall) {
      return refused('server', `the server is at its limit of ${this.overall} connections (--max-connections); try again later`);
    }
    if (this.perAddress > 0 && mine >= this.perAddress) {
      return refused('address', `too many connections from your address: at most ${this.perAddress} at once (--max-connections-per-ip)`);
    }
    this.open.set(key, mine + 1);
    this.total++;
    return { ok: true, key };
  }

  release(key: string): void {
    const mine = this.open.get(key);
    if (mine === undefined) return;
    if (mine <= 1) this.open.delete(key);
    else this.open.set(key, mine - 1);
    this.total--;
  }
}

function refused(scope: Refusal['scope'], message: string): Admission {
  return { ok: false, refusal: { code: 'too_many_connections', scope, message } };
}
