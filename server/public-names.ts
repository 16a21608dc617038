// The names this server answers to, and the two checks made with them. A browser sends the name it
// used in Host and the page it came from in Origin; both are checked against names the operator gave
// (--public-url) or that the machine has (localhost, its host name, the addresses it listens on),
// never against each other. Comparing Origin with Host is what DNS rebinding defeats: the attacker's
// name, once it resolves to this server, is both the page's origin and the Host, and they match.
// Names are compared without ports: a page on http://chat.example:8080 may use
// wss://chat.example:8443.
import { hostname as osHostname, networkInterfaces } from 'node:os';

/** Where the machine's names come from; tests pass their own. */
export interface NameSources {
  hostname(): string;
  addresses(): string[];
  now(): number;
}

export const systemNames: NameSources = {
  hostname: osHostname,
  addresses: () =>
    Object.values(networkInterfaces())
      .flat()
      .flatMap((i) => (i ? [i.address] : [])),
  now: Date.now,
};

/** How often, at most, an unknown name makes us look at the interfaces again (an address may be new). */
export const INTERFACES_REFRESH_MS = 10_000;

/** Binding any of these listens on every address the machine has. */
const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export interface PublicNamesOptions {
  /** The address the listeners bind to. */
  host: string;
  /** --public-url: their host names are public names. */
  publicUrls: readonly string[];
  /** --allowed-origins: other pages that may open /ws; `*` any. */
  allowedOrigins: readonly string[];
}

/**
 * The host name of a Host (or :authority) header or of a URL's host part: lower case, without port,
 * brackets or a trailing dot. Undefined when it is not a host at all.
 */
export function nameOf(hostHeader: string): string | undefined {
  let url: URL;
  try {
    url = new URL(`http://${hostHeader}`);
  } catch {
    return undefined;
  }
  // Anything beyond host[:port] (a path, credentials) means it was not a Host header.
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
  return bare(url.hostname);
}

function bare(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

/** An origin as browsers serialise it (scheme://host[:port], lower case), or undefined if it is none. */
function serialisedOrigin(origin: string): string | undefined {
  try {
    const o = new URL(origin).origin;
    return o === 'null' ? undefined : o.toLowerCase();
  } catch {
    return undefined;
  }
}

export class PublicNames {
  private readonly fixed = new Set<string>();
  private machine = new Set<string>();
  private readonly wildcard: boolean;
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;
  private lastLook = -Infinity;

  constructor(
    opts: PublicNamesOptions,
    private readonly sources: NameSources = systemNames,
  ) {
    this.fixed.add('localhost');
    for (const u of opts.publicUrls) this.fixed.add(bare(new URL(u).hostname));
    this.wildcard = WILDCARDS.has(opts.host);
    if (!this.wildcard) this.fixed.add(bare(opts.host));
    this.anyOrigin = opts.allowedOrigins.includes('*');
    // Unparsable entries are kept as written, so `--allowed-origins null` can admit `Origin: null`.
    this.origins = new Set(opts.allowedOrigins.map((o) => serialisedOrigin(o) ?? o));
    this.lookAtMachine();
  }

  /**
   * Whether a request's Host (HTTP/1.x) or :authority (HTTP/2) names this server. A request without
   * one (HTTP/1.0) is no browser's, and passes.
   */
  hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return true;
    const name = nameOf(host);
    return name !== undefined && this.has(name);
  }

  /**
   * Whether a page from `origin` may open a WebSocket: one served under a public name, or listed in
   * --allowed-origins. No Origin at all is a client that is not a browser: it gains nothing by lying.
   */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined || this.anyOrigin) return true;
    const serialised = serialisedOrigin(origin);
    if (serialised === undefined) return this.origins.has(origin);
    if (this.origins.has(serialised)) return true;
    return this.has(bare(new URL(serialised).hostname));
  }

  private has(name: string): boolean {
    if (this.fixed.has(name) || this.machine.has(name)) return true;
    // A new address (DHCP, a VPN coming up) is seen within one refresh, and probing with made-up
    // names cannot make us read the interfaces more often than that.
    if (this.sources.now() - this.lastLook < INTERFACES_REFRESH_MS) return false;
    this.lookAtMachine();
    return this.machine.has(name);
  }

  private lookAtMachine(): void {
    this.lastLook = this.sources.now();
    const names = new Set<string>([bare(this.sources.hostname())]);
    if (this.wildcard) for (const a of this.sources.addresses()) names.add(bare(a.replace(/%.*$/, '')));
    this.machine = names;
  }
}

/** The body of a 403 for a Host that is not ours: what happened and the flag that fixes it. */
export function unknownHostMessage(host: string, scheme: 'http' | 'https'): string {
  const name = nameOf(host) ?? host;
  return (
    `"${name}" is not a name this server answers to, so the request was refused (this stops DNS rebinding).\n` +
    `If people reach this server by that name, start it with --public-url ${scheme}://${name} (repeatable; env PARLEY_PUBLIC_URL).\n`
  );
}
