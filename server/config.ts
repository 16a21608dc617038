// Server settings from flags and PARLEY_* environment variables, described once in a table that also
// produces --help. Flags win over the environment; both are validated here, so the rest of the server
// only ever sees a well-formed Config.
import { hostname } from 'node:os';
import { LIMITS } from '../protocol/messages.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export type FsyncMode = 'always' | 'batch' | 'off';

/** An address and port to listen on, from `ADDR:PORT` or `[IPv6]:PORT`. */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface Config {
  host: string;
  tcpPort: number;
  httpPort: number;
  maxMessageBytes: number;
  logLevel: LogLevel;
  helloTimeoutMs: number;
  allowedOrigins: string[];
  deflate: boolean;
  dataDir: string;
  memory: boolean;
  fsync: FsyncMode;
  historyPerRoom: number;
  /** Bytes of stored history (both stores) before the oldest is dropped; 0 = no budget. */
  maxStoreBytes: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  webRoot: string | undefined;
  minPasswordLength: number;
  rateLimit: number;
  noRateLimit: boolean;
  maxRooms: number;
  /** Offline guests not seen for this long are forgotten (seconds; 0 = never by time). */
  forgetGuestsAfter: number;
  /** Offline guests remembered at most, the longest gone forgotten first; 0 = no cap. */
  maxKnownGuests: number;
  /** Undelivered DMs one account's offline inbox may hold; more are refused with inbox_full; 0 = no bound. */
  maxInbox: number;
  /** redis://[user:password@]host:port[/db]: cluster mode (state in Redis, shared with other nodes). */
  redis: string | undefined;
  /** Cluster mode: this node's heartbeat promise; silent longer, it is counted gone (redis-directory.ts). */
  nodeTimeoutMs: number;
  /** PEM files; both or neither. With them the TCP port speaks TLS and the HTTP port HTTPS (and HTTP/2). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Chat connections (TCP and WebSocket) open at once from one address (IPv6: one /64); 0 = no cap. */
  maxConnectionsPerIp: number;
  /** Chat connections open at once in all; 0 = no cap. */
  maxConnections: number;
  /** The URLs people use to reach this server; their host names are its public names. */
  publicUrls: string[];
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** When set, /metrics is served only on this separate listener, not on the HTTP port. */
  metricsHost: ListenAddress | undefined;
  /** The IRC listener (--irc-port, --no-irc, --server-name, --irc-replay). */
  irc: boolean;
  ircPort: number;
  ircTlsPort: number;
  serverName: string;
  ircReplay: number;
}

type Kind =
  | { t: 'string' }
  | { t: 'int'; min: number; max: number }
  /** A whole number of bytes, optionally with a binary suffix: 512K, 64M, 10G, 1T. */
  | { t: 'bytes'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'list' }
  /** Repeatable too; each item an http: or https: URL with a host. */
  | { t: 'urls' }
  | { t: 'hostport' };

interface Option {
  key: keyof Config;
  flag: string;
  env: string;
  kind: Kind;
  def: Config[keyof Config];
  help: string;
  /** What --help shows for the value when the kind alone says too little (FILE, TOKEN). */
  meta?: string;
}

const port = { t: 'int', min: 0, max: 65535 } as const;

/** 10 GiB: room for years of a busy server's chat, and a full disk ruled out on any disk that size. */
export const DEFAULT_MAX_STORE_BYTES = 10 * 1024 ** 3;
const BYTE_SUFFIXES: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** The shortest --metrics-token accepted: anything shorter could be guessed by a scraper's neighbours. */
export const MIN_METRICS_TOKEN_LENGTH = 16;

const OPTIONS: Option[] = [
  { key: 'host', flag: 'host', env: 'PARLEY_HOST', kind: { t: 'string' }, def: '0.0.0.0', help: 'address to listen on (both listeners)' },
  { key: 'tcpPort', flag: 'tcp-port', env: 'PARLEY_TCP_PORT', kind: port, def: 9000, help: 'console clients: newline-delimited JSON over TCP (0 = any free port)' },
  { key: 'httpPort', flag: 'http-port', env: 'PARLEY_HTTP_PORT', kind: port, def: 8080, help: 'web client, /healthz, /metrics and WebSocket /ws (0 = any free port)' },
  {
    key: 'maxMessageBytes',
    flag: 'max-message-bytes',
    env: 'PARLEY_MAX_MESSAGE_BYTES',
    kind: { t: 'int', min: 256, max: 16 * 1024 * 1024 },
    def: LIMITS.defaultMaxMessageBytes,
    help: 'largest TCP line or WebSocket message accepted, in bytes',
  },
  { key: 'logLevel', flag: 'log-level', env: 'PARLEY_LOG_LEVEL', kind: { t: 'enum', values: LOG_LEVELS }, def: 'info', help: 'debug, info, warn, error or silent' },
  {
    key: 'helloTimeoutMs',
    flag: 'hello-timeout-ms',
    env: 'PARLEY_HELLO_TIMEOUT_MS',
    kind: { t: 'int', min: 100, max: 3_600_000 },
    def: 10_000,
    help: 'close connections that have not said hello by then (with TLS, also the time allowed for the first byte and for the handshake)',
  },
  {
    key: 'allowedOrigins',
    flag: 'allowed-origins',
    env: 'PARLEY_ALLOWED_ORIGINS',
    kind: { t: 'list' },
    def: [],
    help: 'browser origins allowed to open /ws besides the server\'s public names (comma-separated, repeatable); * allows any',
  },
  { key: 'deflate', flag: 'deflate', env: 'PARLEY_DEFLATE', kind: { t: 'bool' }, def: true, help: 'offer permessage-deflate on WebSocket (--no-deflate turns it off)' },
  { key: 'dataDir', flag: 'data-dir', env: 'PARLEY_DATA_DIR', kind: { t: 'string' }, def: './data', help: 'where the durable store keeps its log files' },
  { key: 'memory', flag: 'memory', env: 'PARLEY_MEMORY', kind: { t: 'bool' }, def: false, help: 'keep everything in memory only: nothing survives a restart' },
  {
    key: 'fsync',
    flag: 'fsync',
    env: 'PARLEY_FSYNC',
    kind: { t: 'enum', values: ['always', 'batch', 'off'] },
    def: 'batch',
    help: 'always: fsync each message; batch: one fsync per few ms covers all; off: never fsync',
  },
  {
    key: 'historyPerRoom',
    flag: 'history-per-room',
    env: 'PARLEY_HISTORY_PER_ROOM',
    kind: { t: 'int', min: 1, max: 10_000_000 },
    def: 10_000,
    help: 'messages kept per room and per direct conversation',
  },
  {
    key: 'maxStoreBytes',
    flag: 'max-store-bytes',
    env: 'PARLEY_MAX_STORE_BYTES',
    kind: { t: 'bytes', min: 0, max: 2 ** 50 },
    def: DEFAULT_MAX_STORE_BYTES,
    help: 'stored history may take this many bytes in all (K, M, G, T suffixes allowed); beyond it the oldest messages are dropped first, never a conversation\'s newest, and the log says what went; 0 = no budget',
  },
  {
    key: 'maxBufferedBytes',
    flag: 'max-buffered-bytes',
    env: 'PARLEY_MAX_BUFFERED_BYTES',
    kind: { t: 'int', min: 65536, max: 1024 * 1024 * 1024 },
    def: 8 * 1024 * 1024,
    help: 'unsent bytes a connection may hold before it is closed as a slow consumer (its own requests are paced well below this)',
  },
  {
    key: 'pingIntervalMs',
    flag: 'ping-interval-ms',
    env: 'PARLEY_PING_INTERVAL_MS',
    kind: { t: 'int', min: 10, max: 3_600_000 },
    def: 30_000,
    help: 'ping a connection (TCP or WebSocket) that has been quiet this long',
  },
  {
    key: 'idleTimeoutMs',
    flag: 'idle-timeout-ms',
    env: 'PARLEY_IDLE_TIMEOUT_MS',
    kind: { t: 'int', min: 20, max: 24 * 3_600_000 },
    def: 60_000,
    help: 'close a connection (TCP or WebSocket) silent this long (pings unanswered)',
  },
  {
    key: 'minPasswordLength',
    flag: 'min-password-length',
    env: 'PARLEY_MIN_PASSWORD_LENGTH',
    kind: { t: 'int', min: 1, max: LIMITS.maxPasswordLength },
    def: LIMITS.minPasswordLength,
    help: 'shortest password accepted for a new account or a new password',
  },
  {
    key: 'rateLimit',
    flag: 'rate-limit',
    env: 'PARLEY_RATE_LIMIT',
    kind: { t: 'int', min: 1, max: 1_000_000 },
    def: 10,
    help: 'chat messages (say, dm) per second per sender, sustained; bursts of three times as many',
  },
  {
    key: 'noRateLimit',
    flag: 'no-rate-limit',
    env: 'PARLEY_NO_RATE_LIMIT',
    kind: { t: 'bool' },
    def: false,
    help: 'turn every per-sender rate limit off (benchmarks, trusted setups)',
  },
  {
    key: 'maxRooms',
    flag: 'max-rooms',
    env: 'PARLEY_MAX_ROOMS',
    kind: { t: 'int', min: 0, max: 100_000_000 },
    def: 10_000,
    help: 'rooms the server holds in all (each creator may also make at most 10 an hour); 0 = no cap',
  },
  {
    key: 'forgetGuestsAfter',
    flag: 'forget-guests-after',
    env: 'PARLEY_FORGET_GUESTS_AFTER',
    kind: { t: 'int', min: 0, max: 10 * 365 * 86_400 },
    meta: 'SECONDS',
    def: 86_400,
    help: 'forget a guest name (who, whois, mentions) once it has been offline this long; accounts are never forgotten; 0 = only --max-known-guests forgets',
  },
  {
    key: 'maxKnownGuests',
    flag: 'max-known-guests',
    env: 'PARLEY_MAX_KNOWN_GUESTS',
    kind: { t: 'int', min: 0, max: 100_000_000 },
    def: 100_000,
    help: 'offline guest names remembered at most; beyond it the longest gone are forgotten first; 0 = no cap',
  },
  {
    key: 'maxInbox',
    flag: 'max-inbox',
    env: 'PARLEY_MAX_INBOX',
    kind: { t: 'int', min: 0, max: 100_000_000 },
    def: 10_000,
    help: 'undelivered direct messages one account\'s offline inbox may hold; a DM beyond it is refused with inbox_full (never an older one dropped); 0 = no bound',
  },
  {
    key: 'redis',
    flag: 'redis',
    env: 'PARLEY_REDIS',
    kind: { t: 'string' },
    def: undefined,
    help: 'cluster mode: keep messages, accounts and presence in Redis at redis://[user:password@]host:port[/db], shared by every node given the same URL (--data-dir and --memory are then unused)',
  },
  {
    key: 'nodeTimeoutMs',
    flag: 'node-timeout-ms',
    env: 'PARLEY_NODE_TIMEOUT_MS',
    kind: { t: 'int', min: 1000, max: 600_000 },
    def: 10_000,
    help: 'cluster mode: this node promises a heartbeat within N ms (it sends one every N/5); a node silent longer is counted gone, and its users leave their rooms and free their names',
  },
  { key: 'tlsCert', flag: 'tls-cert', env: 'PARLEY_TLS_CERT', kind: { t: 'string' }, meta: 'FILE', def: undefined, help: 'PEM certificate (chain) file: the TCP port speaks TLS and the HTTP port HTTPS and HTTP/2; reloaded on SIGHUP; needs --tls-key' },
  { key: 'tlsKey', flag: 'tls-key', env: 'PARLEY_TLS_KEY', kind: { t: 'string' }, meta: 'FILE', def: undefined, help: 'PEM private key file for --tls-cert' },
  {
    key: 'maxConnectionsPerIp',
    flag: 'max-connections-per-ip',
    env: 'PARLEY_MAX_CONNECTIONS_PER_IP',
    kind: { t: 'int', min: 0, max: 10_000_000 },
    def: 100,
    help: 'chat connections (TCP and WebSocket) open at once from one address, an IPv6 /64 counting as one; beyond it a connection is refused with too_many_connections; 0 = no cap',
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    env: 'PARLEY_MAX_CONNECTIONS',
    kind: { t: 'int', min: 0, max: 10_000_000 },
    def: 10_000,
    help: 'chat connections open at once in all; beyond it a connection is refused with too_many_connections; 0 = no cap',
  },
  {
    key: 'publicUrls',
    flag: 'public-url',
    env: 'PARLEY_PUBLIC_URL',
    kind: { t: 'urls' },
    def: [],
    help: 'a URL people use to reach this server (repeatable, or comma-separated); requests for other host names are refused (DNS rebinding), and pages from these names may open /ws. Always included: localhost, this machine\'s name and the addresses it listens on',
  },
  {
    key: 'metricsToken',
    flag: 'metrics-token',
    env: 'PARLEY_METRICS_TOKEN',
    kind: { t: 'string' },
    meta: 'TOKEN',
    def: undefined,
    help: `/metrics then wants "Authorization: Bearer TOKEN" (at least ${MIN_METRICS_TOKEN_LENGTH} characters; prefer the env variable, flags show in ps)`,
  },
  {
    key: 'metricsHost',
    flag: 'metrics-host',
    env: 'PARLEY_METRICS_HOST',
    kind: { t: 'hostport' },
    def: undefined,
    help: 'serve /metrics on this ADDR:PORT only (plain HTTP, e.g. 127.0.0.1:9100), not on the HTTP port',
  },
  { key: 'irc', flag: 'irc', env: 'PARLEY_IRC', kind: { t: 'bool' }, def: true, help: 'the IRC listener (--no-irc turns it off)' },
  { key: 'ircPort', flag: 'irc-port', env: 'PARLEY_IRC_PORT', kind: port, def: 6667, help: 'IRC clients (irssi, WeeChat…) over plain TCP (0 = any free port)' },
  { key: 'ircTlsPort', flag: 'irc-tls-port', env: 'PARLEY_IRC_TLS_PORT', kind: port, def: 6697, help: 'IRC over TLS, served when --tls-cert/--tls-key are given (0 = any free port)' },
  {
    key: 'serverName',
    flag: 'server-name',
    env: 'PARLEY_SERVER_NAME',
    kind: { t: 'string' },
    def: hostname(),
    help: 'the server\'s name on IRC: in numerics and as the source of its own lines',
  },
  {
    key: 'ircReplay',
    flag: 'irc-replay',
    env: 'PARLEY_IRC_REPLAY',
    kind: { t: 'int', min: 0, max: LIMITS.maxHistory },
    def: 0,
    help: 'replay this many messages on join to IRC clients without chathistory (0 = none)',
  },
  { key: 'webRoot', flag: 'web-root', env: 'PARLEY_WEB_ROOT', kind: { t: 'string' }, def: undefined, help: 'serve the web client from this folder (default: the built one)' },
];

const SERVER_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;

export type ParseResult = { ok: true; config: Config } | { ok: false; help: true } | { ok: false; help: false; error: string };

export function defaults(): Config {
  const c: Record<string, unknown> = {};
  for (const o of OPTIONS) c[o.key] = Array.isArray(o.def) ? [...o.def] : o.def;
  return c as unknown as Config;
}

function convert(o: Option, raw: string, from: string): unknown {
  const k = o.kind;
  switch (k.t) {
    case 'string':
      if (raw === '') throw new Error(`${from} needs a value`);
      return raw;
    case 'list':
      return splitList(raw);
    case 'urls':
      return splitList(raw).map((u) => checkUrl(u, from));
    case 'hostport':
      return parseListenAddress(raw, from);
    case 'int': {
      if (!/^\d+$/.test(raw)) throw new Error(`${from} must be a whole number, got "${raw}"`);
      const n = Number(raw);
      if (n < k.min || n > k.max) throw new Error(`${from} must be from ${k.min} to ${k.max}, got ${n}`);
      return n;
    }
    case 'bytes': {
      const m = /^(\d{1,16})([KMGT]?)(?:i?B)?$/i.exec(raw);
      if (!m) throw new Error(`${from} must be a number of bytes, optionally with K, M, G or T (e.g. 10G), got "${raw}"`);
      const n = Number(m[1]) * BYTE_SUFFIXES[m[2]!.toUpperCase()]!;
      if (n < k.min || n > k.max) throw new Error(`${from} must be from ${k.min} to ${k.max} bytes, got ${n}`);
      return n;
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new Error(`${from} must be true or false, got "${raw}"`);
    case 'enum':
      if (!k.values.includes(raw)) throw new Error(`${from} must be one of ${k.values.join(', ')}, got "${raw}"`);
      return raw;
  }
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function checkUrl(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${from} must be a URL such as https://chat.example.com, got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new Error(`${from} must be an http:// or https:// URL with a host name, got "${raw}"`);
  }
  return raw;
}

/** `ADDR:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses): where a listener binds. */
export function parseListenAddress(raw: string, from: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw);
  const portNumber = m ? Number(m[3]) : NaN;
  if (!m || portNumber > 65535) throw new Error(`${from} must be ADDR:PORT, e.g. 127.0.0.1:9100 or [::1]:9100, got "${raw}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: portNumber };
}

/** Rules that involve more than one option, checked once everything is read. */
function checkTogether(c: Config): void {
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    throw new Error('--tls-cert and --tls-key go together: give both files (make cert writes a pair to ./certs/)');
  }
  if (c.metricsToken !== undefined && c.metricsToken.length < MIN_METRICS_TOKEN_LENGTH) {
    throw new Error(`--metrics-token must be at least ${MIN_METRICS_TOKEN_LENGTH} characters (e.g. openssl rand -hex 16)`);
  }
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ParseResult {
  const config = defaults() as unknown as Record<string, unknown>;
  // A list flag given more than once adds up; its first use on the command line replaces the env's.
  const listsFromFlags = new Set<string>();
  try {
    for (const o of OPTIONS) {
      const raw = env[o.env];
      if (raw !== undefined && raw !== '') config[o.key] = convert(o, raw, o.env);
    }
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === '-h' || arg === '--help') return { ok: false, help: true };
      if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const negated = name.startsWith('no-') ? OPTIONS.find((o) => o.kind.t === 'bool' && o.flag === name.slice(3)) : undefined;
      if (negated) {
        if (eq >= 0) throw new Error(`--${name} takes no value`);
        config[negated.key] = false;
        continue;
      }
      const o = OPTIONS.find((x) => x.flag === name);
      if (!o) throw new Error(`unknown flag --${name} (see --help)`);
      if (o.kind.t === 'bool' && eq < 0) {
        config[o.key] = true;
        continue;
      }
      let raw: string;
      if (eq >= 0) raw = arg.slice(eq + 1);
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new Error(`--${name} needs a value`);
        raw = next;
        i++;
      }
      const value = convert(o, raw, `--${name}`);
      if (Array.isArray(value)) {
        const before = listsFromFlags.has(o.key) ? (config[o.key] as unknown[]) : [];
        listsFromFlags.add(o.key);
        config[o.key] = [...before, ...value];
      } else config[o.key] = value;
    }
    checkTogether(config as unknown as Config);
    // It is written into IRC lines: a space or a leading `:` would break them.
    if (!SERVER_NAME_PATTERN.test(String(config.serverName))) throw new Error(`--server-name must be 1-63 letters, digits, . - or _, got "${String(config.serverName)}"`);
  } catch (e) {
    return { ok: false, help: false, error: (e as Error).message };
  }
  return { ok: true, config: config as unknown as Config };
}

/** 10737418240 as 10G: the largest suffix that divides it, as the flag would be written. */
function withSuffix(bytes: number): string {
  for (const s of ['T', 'G', 'M', 'K']) if (bytes > 0 && bytes % BYTE_SUFFIXES[s]! === 0) return `${bytes / BYTE_SUFFIXES[s]!}${s}`;
  return String(bytes);
}

export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const k = o.kind.t;
    const value = o.meta !== undefined ? ` ${o.meta}` : k === 'bool' ? '' : k === 'enum' ? ` ${o.kind.values.join('|')}` : k === 'int' ? ' N' : k === 'bytes' ? ' BYTES' : k === 'hostport' ? ' ADDR:PORT' : k === 'urls' ? ' URL' : k === 'list' ? ' LIST' : ' VALUE';
    const shown = k === 'bytes' && typeof o.def === 'number' ? withSuffix(o.def) : String(o.def);
    const def = o.def === undefined || (Array.isArray(o.def) && o.def.length === 0) ? '' : ` (default ${shown})`;
    return `  --${o.flag}${value}\n      ${o.help}${def}; env ${o.env}`;
  });
  return [
    'parley-server: a chat server for console clients (TCP) and browsers (WebSocket)',
    '',
    'usage: parley-server [flags]',
    '       parley-server accounts list|delete NAME|reset-password NAME|claim NAME [--data-dir DIR]',
    '',
    ...rows,
    '  --help',
    '      show this text',
    '',
  ].join('\n');
}
