// Server settings from flags and PARLEY_* environment variables, described once in a table that also
// produces --help. Flags win over the environment; both are validated here, so the rest of the server
// only ever sees a well-formed Config.
import { LIMITS } from '../protocol/messages.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export type FsyncMode = 'always' | 'batch' | 'off';

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
  maxBufferedBytes: number;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  webRoot: string | undefined;
  minPasswordLength: number;
  rateLimit: number;
  noRateLimit: boolean;
  maxRooms: number;
  /** redis://[user:password@]host:port[/db]: cluster mode (state in Redis, shared with other nodes). */
  redis: string | undefined;
}

type Kind =
  | { t: 'string' }
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'list' };

interface Option {
  key: keyof Config;
  flag: string;
  env: string;
  kind: Kind;
  def: Config[keyof Config];
  help: string;
}

const port = { t: 'int', min: 0, max: 65535 } as const;

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
    help: 'close connections that have not said hello by then',
  },
  {
    key: 'allowedOrigins',
    flag: 'allowed-origins',
    env: 'PARLEY_ALLOWED_ORIGINS',
    kind: { t: 'list' },
    def: [],
    help: 'comma-separated browser origins allowed to open /ws besides the server\'s own host; * allows any',
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
    key: 'redis',
    flag: 'redis',
    env: 'PARLEY_REDIS',
    kind: { t: 'string' },
    def: undefined,
    help: 'cluster mode: keep messages, accounts and presence in Redis at redis://[user:password@]host:port[/db], shared by every node given the same URL (--data-dir and --memory are then unused)',
  },
  { key: 'webRoot', flag: 'web-root', env: 'PARLEY_WEB_ROOT', kind: { t: 'string' }, def: undefined, help: 'serve the web client from this folder (default: the built one)' },
];

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
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'int': {
      if (!/^\d+$/.test(raw)) throw new Error(`${from} must be a whole number, got "${raw}"`);
      const n = Number(raw);
      if (n < k.min || n > k.max) throw new Error(`${from} must be from ${k.min} to ${k.max}, got ${n}`);
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

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ParseResult {
  const config = defaults() as unknown as Record<string, unknown>;
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
      config[o.key] = convert(o, raw, `--${name}`);
    }
  } catch (e) {
    return { ok: false, help: false, error: (e as Error).message };
  }
  return { ok: true, config: config as unknown as Config };
}

export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const value = o.kind.t === 'bool' ? '' : o.kind.t === 'enum' ? ` ${o.kind.values.join('|')}` : o.kind.t === 'int' ? ' N' : ' VALUE';
    const def = o.def === undefined || (Array.isArray(o.def) && o.def.length === 0) ? '' : ` (default ${String(o.def)})`;
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
