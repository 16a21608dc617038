#!/usr/bin/env node
// parley: the terminal client. Interactive on a terminal (prompt, colour, lines printed above what
// you are typing); a pipe on stdin makes it a script tool that sends each line and exits once the
// server has acknowledged all of them.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join as joinPath } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { ClientCore, type HelloRefused, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, ServerEvent } from '../protocol/messages.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { commandNames, helpText, interpret, type LastSearch } from './commands.js';
import { Connection, describe, type Target } from './connection.js';
import { formatError, formatMessage, formatNotice, formatResult, mentions, neutralise, neutraliseName, pickStyle, userName, waitText } from './render.js';
import { passwordSource, readSecret, type PasswordSource } from './secret.js';
import { makeDialer, tlsCa, tlsFromEnv, tlsSwitch, TLS_USAGE, type TlsChoice } from './tls-options.js';
import { readToken, deleteToken, saveToken, tokenPath } from './token-store.js';

const USAGE = `parley: the Parley console client

usage: parley [--name NAME] [--host HOST] [--port PORT | --servers LIST] [--room ROOM] [--password-file FILE]
              [--retry-for SECONDS] [--log-dir DIR] [--tls | --ca FILE | --insecure]

  --name NAME   your name (asked for when missing on a terminal); env PARLEY_NAME
  --password-file FILE
                when NAME is a registered account: its password is the first line of FILE;
                env PARLEY_PASSWORD. Without either, a terminal asks for it (nothing is echoed)
  --host HOST   server address (default localhost); env PARLEY_SERVER_HOST (not PARLEY_HOST:
                that is the address the server listens on, and the client ignores it)
  --port PORT   server TCP port (default 9000); env PARLEY_SERVER_PORT (PARLEY_PORT still works)
  --servers LIST
                the nodes of a cluster, comma-separated HOST:PORT (instead of --host and --port):
                after a lost connection the next one is tried; env PARLEY_SERVERS
  --room ROOM   room to join first (default general); env PARLEY_ROOM
  --retry-for SECONDS
                with stdin from a pipe: how long to keep reconnecting after the server goes
                away before giving up with exit 1 (default 60); a terminal session retries
                until /quit; env PARLEY_RETRY_FOR
  --log-dir DIR on a terminal: append each window (room or conversation) to its own file in DIR,
                #room.log or NAME.log; env PARLEY_LOG_DIR
  --version     print the version and exit
${TLS_USAGE}
  --help        this text

Accounts: after a password login (or /register) the client keeps a login token, never the password,
in $XDG_CONFIG_HOME/parley/ (default ~/.config/parley/; one file per server and name, mode 0600) and
logs in with it from then on. A token the server refuses is deleted and the password asked for again.

Commands once connected:
${helpText()}
With stdin from a pipe, each line is sent and parley exits when all are acknowledged.`;

/** From package.json, two levels up from dist/console-client/main.js. */
const VERSION = ((): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

interface Options {
  name: string | undefined;
  host: string;
  port: number;
  /** --servers: when given, these instead of host and port. */
  servers: Target[] | undefined;
  room: string;
  retryForS: number;
  passwordFile: string | undefined;
  logDir: string | undefined;
  tls: TlsChoice;
}

const FLAGS = ['--name', '--host', '--port', '--servers', '--room', '--retry-for', '--password-file', '--log-dir', '--ca'];

/**
 * The client's environment variables never share a name with one of the server's that means something
 * else: PARLEY_HOST is the server's listen address (the Dockerfile sets it to 0.0.0.0), so the client's
 * server address is PARLEY_SERVER_HOST. PARLEY_PORT is kept: the server's port variables are
 * PARLEY_TCP_PORT and PARLEY_HTTP_PORT, so it cannot be mistaken for one.
 */
function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' | 'version' | string {
  const o: Options = {
    name: env.PARLEY_NAME,
    host: env.PARLEY_SERVER_HOST || 'localhost',
    port: Number(env.PARLEY_SERVER_PORT || env.PARLEY_PORT || 9000),
    servers: undefined,
    room: (env.PARLEY_ROOM ?? 'general').replace(/^#/, ''),
    retryForS: Number(env.PARLEY_RETRY_FOR ?? 60),
    passwordFile: undefined,
    logDir: env.PARLEY_LOG_DIR || undefined,
    tls: tlsFromEnv(env),
  };
  let serverList = env.PARLEY_SERVERS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return 'help';
    if (tlsSwitch(a, o.tls)) continue;
    if (a === '--version' || a === '-V') return 'version';
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (!FLAGS.includes(flag)) return `unknown flag ${flag}; --help lists them`;
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    // "--port --room x": the next flag is not the port's value.
    if (value === undefined || (eq < 0 && value.startsWith('--'))) return `${flag} needs a value`;
    if (flag === '--name') o.name = value;
    else if (flag === '--host') o.host = value;
    else if (flag === '--port') o.port = Number(value);
    else if (flag === '--servers') serverList = value;
    else if (flag === '--room') o.room = value.replace(/^#/, '');
    else if (flag === '--retry-for') o.retryForS = Number(value);
    else if (flag === '--password-file') o.passwordFile = value;
    else if (flag === '--log-dir') o.logDir = value;
    else if (flag === '--ca') tlsCa(value, o.tls);
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return 'the port must be 1-65535';
  if (serverList !== undefined && serverList !== '') {
    const servers = parseServers(serverList);
    if (typeof servers === 'string') return servers;
    o.servers = servers;
    // The first node stands for the cluster where one address is needed: the saved login's file (the
    // nodes share their accounts) and the TLS name check's default.
    o.host = servers[0]!.host;
    o.port = servers[0]!.port;
  }
  if (!Number.isFinite(o.retryForS) || o.retryForS < 0) return '--retry-for must be a number of seconds, 0 or more';
  if (o.name !== undefined && !isValidName(o.name)) return 'a name is 1-32 letters, digits, _ - or .';
  if (!isValidName(o.room)) return 'a room name is 1-32 letters, digits, _ - or .';
  return o;
}

/** `host:port,[v6]:port,...`; a missing port is 9000. */
function parseServers(list: string): Target[] | string {
  const out: Target[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(raw);
    const port = Number(m?.[3] ?? 9000);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) return `--servers: "${raw}" is not HOST:PORT`;
    out.push({ host: m[1] ?? m[2]!, port });
  }
  return out.length > 0 ? out : '--servers lists no server';
}

function main(): void {
  const parsed = parseArgs(process.argv.slice(2), process.env);
  if (parsed === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (parsed === 'version') {
    process.stdout.write(`parley ${VERSION}\n`);
    return;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`parley: ${parsed}\n`);
    process.exitCode = 2;
    return;
  }
  const opts = parsed;
  const dial = makeDialer(opts.tls, (warning) => process.stderr.write(warning));
  if (typeof dial === 'string') {
    process.stderr.write(`parley: ${dial}\n`);
    process.exitCode = 2;
    return;
  }
  if (process.env.PARLEY_HOST && !process.env.PARLEY_SERVER_HOST && !process.argv.slice(2).some((a) => a === '--host' || a.startsWith('--host='))) {
    process.stderr.write(`parley: PARLEY_HOST is the server's listen address and is ignored here; the client connects to ${opts.host} (set PARLEY_SERVER_HOST or --host)\n`);
  }
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  if (!interactive && opts.name === undefined) {
    process.stderr.write('parley: --name is required when stdin is not a terminal\n');
    process.exitCode = 2;
    return;
  }
  // Read once, at start: a missing file is a usage error now rather than a surprise at login.
  const given = passwordSource(opts.passwordFile, process.env);
  if (typeof given === 'string') {
    process.stderr.write(`parley: ${given}\n`);
    process.exitCode = 2;
    return;
  }
  const source: PasswordSource | undefined = given;
  const st = pickStyle(Boolean(process.stdout.isTTY), process.env);
  // In messages about the server as a whole (logins); a lost or made connection names its node.
  const server = opts.servers ? opts.servers.map(describe).join(',') : `${opts.host}:${opts.port}`;

  /** The line editor on a terminal; closed while a password is typed, so nothing can echo it. */
  let rl: Interface | undefined;
  /** Whatever reads stdin now (rl, or the piped reader); a closed one's 'close' is not the end of input. */
  let reader: Interface | undefined;
  let lineHistory: string[] = [];
  /** A password prompt on screen: printed lines go above it and it is drawn again. */
  let secretPrompt: string | undefined;
  let secretReader: { cancel(): void } | undefined;
  let everConnected = false;
  let inputDone = false;
  let failures = 0;
  let quitting = false;

  // Logging in. The order is: the saved token; then the password from --password-file or
  // PARLEY_PASSWORD; then (on a terminal) the prompt. A password is held only until its hello is answered.
  let loginPassword: { value: string; from: 'source' | 'prompt' } | undefined;
  /** The source's password was refused: not tried again until a login succeeds. */
  let sourceRefused = false;
  /** Waiting for the person to type the login password: no hello until then. */
  let askingPassword = false;
  /** After rate_limited, hellos wait until then. */
  let holdUntil = 0;
  let holdTimer: NodeJS.Timeout | undefined;
  let toldGuest = false;
  /**
   * The connection is closed on purpose while the person types a password or a rate limit runs out:
   * the server would drop a connection that has not said hello within 10 s anyway, and its notices
   * would land on top of the prompt.
   */
  let paused = false;
  let started = false;
  /** The last search answered: `/search` alone asks for its next page. */
  let lastSearch: LastSearch | undefined;

  // ---- windows: one per joined room and per direct conversation. On a terminal the screen shows the
  // current window's lines, with a status line above the prompt naming it and the windows with news;
  // piped, every line is printed as it comes (the [#room] prefix tells rooms apart).

  interface Win {
    kind: 'room' | 'dm';
    /** The room or the other party, as the server spells it. */
    name: string;
    key: string;
    /** What was shown in it, for redrawing when it becomes current again. */
    lines: string[];
    /** 0 nothing new, 1 new messages, 2 a message that mentions you (or a direct message). */
    activity: 0 | 1 | 2;
    /** Oldest seq shown: /history pages back from it. */
    oldest?: number;
  }
  const KEEP_LINES = 2000;
  const windows: Win[] = [];
  /** Most recently current first: /leave goes back to the one before. */
  const recent: Win[] = [];
  let cur: Win | undefined;
  /** The status line and the prompt are on screen (the status line directly above the prompt). */
  let statusShown = false;
  const ignored = new Map<string, string>();
  /** Who is in each room (by room key: name key -> spelling), and who is away: for /names, completion, away notices. */
  const members = new Map<string, Map<string, string>>();
  const knownRooms = new Map<string, string>();
  const knownUsers = new Map<string, string>();
  const logDir = interactive ? opts.logDir : undefined;
  if (opts.logDir !== undefined && !interactive) process.stderr.write('parley: --log-dir logs windows, which only a terminal session has; ignored\n');
  if (logDir !== undefined) {
    try {
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      process.stderr.write(`parley: cannot create --log-dir ${logDir}: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  let logFailed = false;

  const winKey = (kind: Win['kind'], name: string): string => `${kind === 'room' ? 'r' : 'd'}:${nameKey(name)}`;
  const currentRoom = (): string | undefined => (cur?.kind === 'room' ? cur.name : undefined);
  const label = (w: Win): string => (w.kind === 'room' ? `#${neutraliseName(w.name)}` : neutraliseName(w.name));

  function findWin(kind: Win['kind'], name: string): Win | undefined {
    const key = winKey(kind, name);
    return windows.find((w) => w.key === key);
  }

  function openWin(kind: Win['kind'], name: string): Win {
    const found = findWin(kind, name);
    if (found) {
      found.name = name;
      return found;
    }
    const w: Win = { kind, name, key: winKey(kind, name), lines: [], activity: 0 };
    windows.push(w);
    return w;
  }

  function statusLine(): string {
    const here = cur ? `[${windows.indexOf(cur) + 1}:${label(cur)}]` : '[no window]';
    const act = windows
      .map((w, i) => (w === cur || w.activity === 0 ? '' : w.activity === 2 ? st.hilite(`${i + 1}!`) : `${i + 1}`))
      .filter((x) => x !== '');
    const line = st.dim(`${neutraliseName(core.name ?? opts.name ?? '')} ${here}`) + (act.length ? ` [Act: ${act.join(',')}]` : '');
    // One row exactly: the redraw counts on it (a wrapped status line would leave a copy behind).
    const cols = Math.max(20, process.stdout.columns ?? 80);
    return plainText(line).length < cols ? line : plainText(line).slice(0, cols - 2) + '…';
  }

  /** rl.question (the name prompt) is on screen. */
  let questioning = false;
  /** Takes the status line and the prompt off the screen (before a password prompt, or at the end). */
  function clearPromptArea(): void {
    if (!rl || !statusShown) return;
    process.stdout.write(`\u001b[${rlRows() + 1}A\r\u001b[J`);
    (rl as unknown as { prevRows?: number }).prevRows = 0;
    statusShown = false;
  }
  const rlRows = (): number => ((rl as unknown as { prevRows?: number } | undefined)?.prevRows ?? 0);

  /** Writes `text` (whole lines) above the status line and the prompt, and redraws both. */
  function draw(text: string): void {
    if (!rl) return;
    if (questioning) {
      // The name prompt (rl.question) is on the line: no status line with it.
      process.stdout.write('\r\u001b[K' + text);
      rl.prompt(true);
      return;
    }
    // From wherever the cursor is in a (possibly wrapped) input line: up to its first row, then to
    // the status line, and clear everything below.
    const up = rlRows() + (statusShown ? 1 : 0);
    process.stdout.write((up > 0 ? `\u001b[${up}A` : '') + '\r\u001b[J' + text + statusLine() + '\n');
    (rl as unknown as { prevRows?: number }).prevRows = 0;
    statusShown = true;
    rl.prompt(true);
  }

  const print = (line: string): void => {
    if (rl) draw(line + '\n');
    else if (secretPrompt !== undefined) {
      process.stdout.write('\r\u001b[K' + line + '\n' + secretPrompt);
    } else process.stdout.write(line + '\n');
  };

  // eslint-disable-next-line no-control-regex
  const plainText = (line: string): string => line.replace(/\u001b\[[0-9;]*m/g, '');

  function log(w: Win, line: string): void {
    if (logDir === undefined || logFailed) return;
    const d = new Date();
    const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    const file = joinPath(logDir, w.kind === 'room' ? `#${nameKey(w.name)}.log` : `${nameKey(w.name)}.log`);
    try {
      appendFileSync(file, `${day} ${plainText(line).replace(/\n/g, '\n           ')}\n`, { mode: 0o600 });
    } catch (err) {
      logFailed = true;
      print(formatError('log', `cannot write ${file}: ${(err as Error).message}; logging stopped`, st));
    }
  }

  /**
   * Shows a line in window `w` (undefined: the current one). Another window's line waits there and
   * marks it in the activity list (`level`: 0 a notice, 1 a message, 2 one that mentions you).
   */
  function out(w: Win | undefined, line: string, level: 0 | 1 | 2 = 0): void {
    const into = w ?? cur;
    if (into) {
      into.lines.push(line);
      if (into.lines.length > KEEP_LINES) into.lines.splice(0, into.lines.length - KEEP_LINES);
      log(into, line);
    }
    if (!interactive || !into || into === cur) {
      print(line);
      if (level === 2 && interactive) process.stdout.write('\u0007');
      return;
    }
    if (level > into.activity) into.activity = level;
    if (level === 2) process.stdout.write('\u0007');
    if (level > 0) draw('');
  }

  /** Makes `w` the current window: prompt, status line and (on a terminal) the screen follow at once. */
  function switchTo(w: Win | undefined): void {
    if (w !== undefined) {
      w.activity = 0;
      const at = recent.indexOf(w);
      if (at >= 0) recent.splice(at, 1);
      recent.unshift(w);
    }
    const changed = w !== cur;
    cur = w;
    setPrompt();
    if (!rl) return;
    if (!changed) return draw('');
    // The screen shows the new window: as many of its last lines as fit above the status line.
    const rows = Math.max(3, process.stdout.rows ?? 24) - 2;
    const cols = Math.max(20, process.stdout.columns ?? 80);
    const shown: string[] = [];
    let used = 0;
    for (let i = (w?.lines.length ?? 0) - 1; i >= 0; i--) {
      const line = w!.lines[i]!;
      const n = line.split('\n').reduce((sum, part) => sum + Math.max(1, Math.ceil(plainText(part).length / cols)), 0);
      if (used + n > rows) break;
      used += n;
      shown.unshift(line);
    }
    process.stdout.write('\u001b[H\u001b[2J');
    statusShown = false;
    (rl as unknown as { prevRows?: number }).prevRows = 0;
    draw(shown.map((l) => l + '\n').join(''));
  }

  function closeWin(w: Win): void {
    const i = windows.indexOf(w);
    if (i >= 0) windows.splice(i, 1);
    const r = recent.indexOf(w);
    if (r >= 0) recent.splice(r, 1);
    if (cur === w) switchTo(recent[0] ?? windows[0]);
    else draw('');
  }

  function roomMembers(room: string): Map<string, string> {
    const key = nameKey(room);
    let m = members.get(key);
    if (!m) {
      m = new Map();
      members.set(key, m);
    }
    return m;
  }
  const away = new Map<string, string>();

  const notice = (text: string, w?: Win): void => out(w, formatNotice(text, st));
  const setPrompt = (): void => rl?.setPrompt(cur ? (cur.kind === 'room' ? `[#${neutraliseName(cur.name)}] > ` : `[${neutraliseName(cur.name)}] > `) : '> ');
  const shortPath = (p: string): string => (p.startsWith(homedir() + '/') ? '~' + p.slice(homedir().length) : p);

  // DMs a reconnect's catch-up found (or held back while it ran) are printed like live ones, in seq order.
  const core = new ClientCore({
    send: (req) => conn.send(req),
    show: (msgs) => msgs.forEach(show),
    helloRefused: (why) => onHelloRefused(why),
    tokenChanged(name, token) {
      const path = tokenPath(opts.host, opts.port, name);
      try {
        if (token === undefined) deleteToken(path);
        else {
          saveToken(path, token);
          notice(`login saved in ${shortPath(path)}: no password needed next time`);
        }
      } catch (err) {
        print(formatError('token', `could not ${token === undefined ? 'delete' : 'save'} ${path}: ${(err as Error).message}`, st));
      }
    },
  });
  // A terminal user is there to see the reconnect notices and can /quit; a script must not hang forever.
  const conn = new Connection(opts.servers ?? [{ host: opts.host, port: opts.port }], {
    open() {
      everConnected = true;
      sayHello();
    },
    event: (ev) => onEvent(ev),
    lost(reason, retryInMs) {
      for (const p of core.disconnected()) unconfirmed(p);
      if (quitting || paused) return;
      if (!everConnected && !interactive && conn.triedAll) {
        process.stderr.write(`parley: cannot connect to ${describe(conn.target)}: ${reason}\n`);
        process.exit(1);
      }
      if (retryInMs === undefined) {
        // Only a piped client gives up (see --retry-for); what it had not got confirmed was listed above.
        process.stderr.write(`parley: gave up on ${server} after ${opts.retryForS} s without a connection: ${reason}\n`);
        process.exit(1);
      }
      const again = `${(retryInMs / 1000).toFixed(1)} s`;
      // Never connected: nothing was lost, the server is not there (yet).
      if (!everConnected) notice(`cannot connect to ${describe(conn.target)} (${reason}); trying again in ${again}`);
      else notice(`connection to ${describe(conn.target)} lost (${reason}); reconnecting in ${again}`);
    },
  }, interactive ? undefined : opts.retryForS * 1000, dial);

  function unconfirmed(p: Pending): void {
    const req = p.req;
    let what: string | undefined;
    if (req.type === 'say' || req.type === 'dm') what = `"${req.text.slice(0, 60)}" before the connection broke; it may not have been delivered`;
    else if (req.type === 'register') what = 'the registration before the connection broke; if it took effect, the name now needs its password';
    else if (req.type === 'password') what = 'the password change before the connection broke; either password may be the one now';
    else if (req.type === 'logout') what = 'the logout before the connection broke; run /logout again once reconnected';
    if (what === undefined) return;
    failures++;
    print(formatError('unconfirmed', `the server did not confirm ${what}`, st));
  }

  function maybeExit(): void {
    if (!interactive && inputDone && core.isReady && core.outstanding === 0) quit(failures > 0 ? 1 : 0);
  }

  function quit(code: number): void {
    if (quitting) return;
    quitting = true;
    process.exitCode = code;
    secretReader?.cancel();
    clearTimeout(holdTimer);
    // Leaving each room first: the server reports a connection that ends without leaving (even after
    // a bye) as "disconnected", which tells the others this client broke rather than that you left.
    if (core.isReady) for (const room of core.rooms.values()) conn.send({ type: 'leave', room });
    conn.send({ type: 'bye' });
    conn.stop();
    reader = undefined;
    // The status line and prompt go; the window's lines stay on the terminal.
    clearPromptArea();
    rl?.close();
    // Let the bye leave before the process goes.
    setTimeout(() => process.exit(code), 50).unref();
  }

  // ---- logging in

  /** The name to use from now on, with the token saved for it on this server (if any). */
  function useName(name: string): void {
    opts.name = name;
    core.useToken(name, readToken(tokenPath(opts.host, opts.port, name)));
  }

  /** Says hello when there is everything for one: a connection, a name, and no prompt or wait pending. */
  function sayHello(): void {
    if (opts.name === undefined || askingPassword || quitting || !conn.isOpen || core.isReady || core.helloPending) return;
    const wait = holdUntil - Date.now();
    clearTimeout(holdTimer);
    if (wait > 0) {
      pause();
      holdTimer = setTimeout(resume, wait);
      return;
    }
    core.connected(opts.name, loginPassword?.value);
  }

  function pause(): void {
    if (paused) return;
    paused = true;
    conn.stop();
  }

  /** Connects again after a pause; the open handler says hello. */
  function resume(): void {
    if (!paused || quitting) return;
    paused = false;
    conn.start();
  }

  function askName(why?: string): void {
    if (!rl) return;
    clearPromptArea();
    questioning = true;
    if (why) print(formatError('name', why, st));
    rl.question('Your name: ', (answer) => {
      questioning = false;
      const name = answer.trim();
      if (!isValidName(name)) return askName('a name is 1-32 letters, digits, _ - or .');
      useName(name);
      // The first connection waits for the name (the server gives a hello 10 s); later ones are open.
      if (!started) {
        started = true;
        conn.start();
      } else if (paused) resume();
      else sayHello();
    });
  }

  function onHelloRefused(why: HelloRefused): void {
    const tried = loginPassword;
    const name = neutralise(why.name);
    switch (why.kind) {
      case 'name': {
        loginPassword = undefined;
        if (interactive) {
          pause();
          return askName(why.error.message);
        }
        process.stderr.write(`parley: ${why.error.code}: ${neutralise(why.error.message)}\n`);
        process.exit(1);
        return;
      }
      case 'password_needed':
        return needPassword();
      case 'token_refused':
        // The core has forgotten it, and its tokenChanged deleted the file.
        notice(`the saved login for ${name} on ${server} was refused (expired, revoked, or the password changed) and has been deleted`);
        // A bare hello tells whether the name still is an account (auth_required) or is free again.
        return sayHello();
      case 'wrong_password':
        loginPassword = undefined;
        if (tried?.from === 'source') sourceRefused = true;
        print(formatError('bad_credentials', tried?.from === 'source' ? `the password from ${source!.label} is wrong for ${name}` : `wrong password for ${name}`, st));
        return needPassword();
      case 'rate_limited':
        if (!interactive) {
          process.stderr.write(`parley: rate_limited: ${neutralise(why.error.message)} (try again in ${waitText(why.retryAfterMs)})\n`);
          process.exit(1);
        }
        // The server checked nothing: the same hello (token or password) is tried again after the wait.
        holdUntil = Date.now() + why.retryAfterMs;
        print(formatError('rate_limited', why.error.message, st, why.retryAfterMs));
        return sayHello();
      default:
        loginPassword = undefined;
        if (!interactive) {
          process.stderr.write(`parley: ${why.error.code}: ${neutralise(why.error.message)}\n`);
          process.exit(1);
        }
        print(formatError(why.error.code, why.error.message, st, why.error.retryAfterMs));
    }
  }

  /** The name is an account's and no token worked: the password source, else the prompt, else give up. */
  function needPassword(): void {
    if (source && !sourceRefused) {
      loginPassword = { value: source.value, from: 'source' };
      return sayHello();
    }
    if (!interactive) {
      process.stderr.write(
        source
          ? `parley: the password from ${source.label} was refused for ${opts.name} on ${server}\n`
          : `parley: ${opts.name} is a registered account on ${server}: give its password with --password-file FILE or PARLEY_PASSWORD\n`,
      );
      process.exit(1);
    }
    askingPassword = true;
    pause();
    void askSecrets([`Password for ${opts.name}: `]).then((got) => {
      askingPassword = false;
      if (got === undefined) return quit(130);
      if (got[0] === '') return needPassword();
      loginPassword = { value: got[0]!, from: 'prompt' };
      // A new connection: its open handler says hello with the password.
      if (paused) resume();
      else sayHello();
    });
  }

  // ---- passwords typed on the terminal

  function suspendInput(): void {
    if (!rl) return;
    clearPromptArea();
    const closing = rl;
    lineHistory = [...((closing as unknown as { history?: string[] }).history ?? [])];
    rl = undefined;
    reader = undefined;
    closing.close();
  }

  /**
   * Asks for each of `prompts` in turn without echo, readline closed meanwhile so nothing it does can
   * show the password. Undefined when the person aborts (Ctrl-C, or Ctrl-D on an empty line).
   */
  async function askSecrets(prompts: string[]): Promise<string[] | undefined> {
    suspendInput();
    const answers: string[] = [];
    try {
      for (const prompt of prompts) {
        secretPrompt = prompt;
        process.stdout.write('\r\u001b[K' + prompt);
        const r = readSecret(process.stdin);
        secretReader = r;
        const got = await r.done;
        secretReader = undefined;
        secretPrompt = undefined;
        process.stdout.write('\r\n');
        if (got === undefined) return undefined;
        answers.push(got);
      }
      return answers;
    } finally {
      if (!quitting) openInput(true);
    }
  }

  async function registerCommand(): Promise<void> {
    if (core.account === true) return print(formatError('register', `${neutralise(core.name ?? '')} is already an account; /password changes its password`, st));
    let password: string;
    if (interactive) {
      const got = await askSecrets([`New password for ${core.name ?? opts.name}: `, 'The same again: ']);
      if (got === undefined || got[0] === '') return notice('registration cancelled');
      if (got[0] !== got[1]) return print(formatError('register', 'the two passwords differ; nothing was changed', st));
      password = got[0]!;
    } else if (source) password = source.value;
    else {
      failures++;
      return print(formatError('usage', '/register needs a password: give --password-file FILE or PARLEY_PASSWORD, or run parley on a terminal', st));
    }
    core.request({ type: 'register', password });
  }

  async function passwordCommand(): Promise<void> {
    if (core.account === false) return print(formatError('password', 'a guest has no password; /register makes your name an account', st));
    if (!interactive) {
      failures++;
      return print(formatError('usage', '/password asks for the passwords, so it needs a terminal', st));
    }
    const got = await askSecrets(['Current password: ', 'New password: ', 'The new one again: ']);
    if (got === undefined || got[1] === '') return notice('password change cancelled');
    if (got[1] !== got[2]) return print(formatError('password', 'the two new passwords differ; nothing was changed', st));
    core.request({ type: 'password', old: got[0]!, new: got[1]! });
  }

  // ---- events

  const isMe = (name: string): boolean => core.name !== undefined && nameKey(name) === nameKey(core.name);
  const isIgnored = (name: string): boolean => ignored.has(nameKey(name)) && !isMe(name);

  /** A message, in the window of its room or conversation (opened for a new conversation). */
  function show(m: ChatMessage): void {
    if (isIgnored(m.from)) return;
    knownUsers.set(nameKey(m.from), m.from);
    let w: Win | undefined;
    if (m.room !== undefined) {
      w = findWin('room', m.room);
      if (w && (w.oldest === undefined || m.seq < w.oldest)) w.oldest = m.seq;
    } else {
      const peer = core.peerOf(m);
      if (peer !== undefined) w = openWin('dm', peer);
      if (w && (w.oldest === undefined || m.seq < w.oldest)) w.oldest = m.seq;
    }
    const mine = isMe(m.from);
    const mention = !mine && (m.room === undefined || mentions(m.text, core.name));
    // On a terminal each window holds its own lines, so the room needs no prefix there.
    const where = interactive ? (w?.kind === 'room' ? w.name : undefined) : currentRoom();
    const line = formatMessage(m, core.name, where, st, core.sentByGuest(m), mention && m.room !== undefined && interactive);
    out(w, line, mention ? 2 : mine ? 0 : 1);
    // A DM you sent from another window is shown where you typed it, too.
    if (interactive && mine && m.room === undefined && w !== cur && w !== undefined && sentHere.delete(m.to === undefined ? '' : nameKey(m.to))) print(line);
  }
  /** Conversations a /msg was typed for outside their window: its echo is shown in the current one too. */
  const sentHere = new Set<string>();

  function onEvent(ev: ServerEvent): void {
    // Retrying in plaintext cannot help: say how to connect, and stop.
    if (ev.type === 'error' && ev.code === 'tls_required') {
      process.stderr.write(`parley: ${opts.host}:${opts.port} speaks TLS: connect with --tls (or --ca FILE for a self-signed certificate)\n`);
      process.exit(1);
    }
    if (!core.accept(ev)) return;
    const settled = 're' in ev ? core.settle(ev.re) : undefined;
    switch (ev.type) {
      case 'welcome':
        loginPassword = undefined;
        sourceRefused = false;
        holdUntil = 0;
        notice(`connected to ${describe(conn.target)} as ${userName(ev.name, !ev.account)} (${ev.account ? 'account' : 'guest'}, ${neutralise(ev.server)})`);
        if (!ev.account && source && !toldGuest) {
          toldGuest = true;
          notice(`${neutraliseName(ev.name)} has no account here, so you are a guest and ${source.label} was not used; /register makes the name yours`);
        }
        draw('');
        return;
      case 'members': {
        // The server's spelling of the room wins ("Lobby" even if we typed "lobby").
        const w = openWin('room', ev.room);
        knownRooms.set(nameKey(ev.room), ev.room);
        if (cur === undefined) switchTo(w);
        else setPrompt();
        const who = roomMembers(ev.room);
        who.clear();
        for (const u of ev.users) {
          who.set(nameKey(u), u);
          knownUsers.set(nameKey(u), u);
        }
        for (const [name, text] of Object.entries(ev.away ?? {})) away.set(nameKey(name), text);
        const guests = new Set((ev.guests ?? []).map(nameKey));
        notice(`#${neutraliseName(ev.room)}: ${ev.users.map((u) => userName(u, guests.has(nameKey(u))) + (ev.away?.[u] !== undefined ? ' (away)' : '')).join(', ')}`, w);
        break;
      }
      case 'history': {
        if (ev.room === undefined) {
          // A direct conversation's history: /history in its window pages back through it.
          const w = ev.with !== undefined ? openWin('dm', ev.with) : undefined;
          if (settled?.req.type === 'history' && ev.with !== undefined) {
            notice(ev.messages.length ? `older messages with ${neutraliseName(ev.with)}:` : `no older messages with ${neutraliseName(ev.with)}`, w);
          }
          for (const m of ev.messages) show(m);
          const first = ev.messages[0];
          if (w && first && (w.oldest === undefined || first.seq < w.oldest)) w.oldest = first.seq;
          break;
        }
        const w = findWin('room', ev.room);
        const paging = settled?.req.type === 'history';
        const msgs = paging ? ev.messages : core.freshHistory(ev.messages);
        if (paging) notice(msgs.length ? `older messages in #${neutraliseName(ev.room)}:` : `no older messages in #${neutraliseName(ev.room)}`, w);
        for (const m of msgs) show(m);
        // Paging: the oldest shown is the oldest of this page even when all were ignored.
        const first = msgs[0];
        if (w && first && (w.oldest === undefined || first.seq < w.oldest)) w.oldest = first.seq;
        break;
      }
      case 'message':
        show(ev);
        break;
      case 'joined':
        roomMembers(ev.room).set(nameKey(ev.name), ev.name);
        knownUsers.set(nameKey(ev.name), ev.name);
        if (!isMe(ev.name)) out(findWin('room', ev.room), formatNotice(`${userName(ev.name, ev.guest)} joined #${neutraliseName(ev.room)}`, st, ev.ts));
        break;
      case 'left': {
        const w = findWin('room', ev.room);
        if (isMe(ev.name) && ev.reason === undefined) {
          members.delete(nameKey(ev.room));
          const line = formatNotice(`you left #${neutraliseName(ev.room)}`, st, ev.ts);
          if (w) {
            w.lines.push(line);
            log(w, line);
            closeWin(w);
          }
          // Said where you are now (the window it happened in is gone).
          out(undefined, line);
        } else {
          roomMembers(ev.room).delete(nameKey(ev.name));
          out(w, formatNotice(`${neutraliseName(ev.name)} left #${neutraliseName(ev.room)}${ev.reason ? ' (disconnected)' : ''}`, st, ev.ts));
        }
        break;
      }
      case 'users': {
        for (const u of ev.users) knownUsers.set(nameKey(u.name), u.name);
        if (ev.room !== undefined) {
          const who = roomMembers(ev.room);
          who.clear();
          for (const u of ev.users) if (u.online) who.set(nameKey(u.name), u.name);
        }
        const list =
          ev.users
            .map((u) => {
              const name = userName(u.name, u.guest) + (u.away !== undefined ? ` (away: ${neutralise(u.away)})` : '');
              return u.online ? name : `${name} (offline${u.lastSeen ? `, last seen ${neutralise(u.lastSeen).slice(0, 16).replace('T', ' ')}` : ''})`;
            })
            .join(', ') || 'nobody';
        notice(`${ev.room ? `in #${neutraliseName(ev.room)}` : 'known users'}: ${list}${ev.more === true ? ` (and more after these ${ev.users.length})` : ''}`);
        break;
      }
      case 'rooms':
        for (const r of ev.rooms) knownRooms.set(nameKey(r.name), r.name);
        notice(`rooms: ${ev.rooms.map((r) => `#${neutraliseName(r.name)} (${r.members})`).join(', ') || 'none yet'}`);
        break;
      case 'topic': {
        const w = findWin('room', ev.room) ?? cur;
        const room = `#${neutraliseName(ev.room)}`;
        if (ev.by !== undefined) notice(ev.text === '' ? `${neutraliseName(ev.by)} cleared the topic of ${room}` : `${neutraliseName(ev.by)} set the topic of ${room}: ${neutralise(ev.text)}`, w);
        else notice(ev.text === '' ? `${room} has no topic` : `topic of ${room}: ${neutralise(ev.text)}`, w);
        break;
      }
      case 'away': {
        const key = nameKey(ev.name);
        if (ev.text === undefined) away.delete(key);
        else away.set(key, ev.text);
        const text = isMe(ev.name)
          ? ev.text === undefined
            ? 'you are back'
            : `you are marked away: ${neutralise(ev.text)}`
          : ev.text === undefined
            ? `${userName(ev.name, core.isGuest(ev.name))} is back`
            : `${userName(ev.name, core.isGuest(ev.name))} is away: ${neutralise(ev.text)}`;
        // Once, in the current window when it is a room they share, else in the first room shared.
        const shared = windows.filter((w) => w.kind === 'room' && members.get(nameKey(w.name))?.has(key));
        out(cur && shared.includes(cur) ? cur : (shared[0] ?? cur), formatNotice(text, st));
        break;
      }
      case 'user': {
        const name = userName(ev.name, !ev.account);
        knownUsers.set(nameKey(ev.name), ev.name);
        const parts = [`${name}: ${ev.account ? 'account' : 'guest'}`, ev.online ? 'online' : `offline${ev.lastSeen ? `, last seen ${neutralise(ev.lastSeen).slice(0, 16).replace('T', ' ')}` : ''}`];
        if (ev.away !== undefined) parts.push(`away: ${neutralise(ev.away)}`);
        if (ev.rooms && ev.rooms.length) parts.push(`in ${ev.rooms.map((r) => `#${neutraliseName(r)}`).join(' ')}`);
        notice(parts.join('; '));
        break;
      }
      case 'time':
        notice(`server time: ${neutralise(ev.time)}`);
        break;
      case 'results': {
        // Shown in the window it was asked from (the current one, as a reply); /search alone pages on.
        const req = settled?.req.type === 'search' ? settled.req : undefined;
        if (!req) break;
        lastSearch = { query: req.query, next: ev.more ? ev.next : undefined };
        if (req.room !== undefined) lastSearch.room = req.room;
        if (req.with !== undefined) lastSearch.with = req.with;
        const what = `"${neutralise(req.query)}"${req.room !== undefined ? ` in #${neutraliseName(req.room)}` : req.with !== undefined ? ` with ${neutraliseName(req.with)}` : ''}`;
        const older = req.before !== undefined;
        if (ev.messages.length === 0) notice(older ? `no older matches for ${what}` : `no messages found for ${what}`);
        else notice(`${older ? 'older ' : ''}matches for ${what}, newest first:`);
        for (const m of ev.messages) if (!isIgnored(m.from)) out(undefined, formatResult(m, ev.terms, st));
        if (ev.more) notice('/search alone shows older matches');
        break;
      }
      case 'ack': {
        const req = settled?.req;
        if (req?.type === 'register') notice(`${neutraliseName(core.name ?? '')} is now a registered account: from now on the name needs its password (or this device's saved login)`);
        else if (req?.type === 'password') notice("password changed; every other device's login to this account has ended");
        else if (req?.type === 'logout') {
          notice(req.all === true ? 'logged out everywhere: every login of this account has been revoked' : "logged out: this device's login has been revoked and deleted");
          quit(0);
          return;
        }
        break;
      }
      case 'bye':
        if (ev.reason === 'shutdown') notice('the server is shutting down');
        break;
      case 'error':
        if (settled) failures++;
        // A join that failed leaves no window behind (it was opened when typed).
        if (settled?.req.type === 'join' && !core.rooms.has(nameKey(settled.req.room))) {
          const w = findWin('room', settled.req.room);
          if (w && w.lines.length === 0) closeWin(w);
        }
        if (ev.code === 'bad_credentials' && settled?.req.type === 'password') print(formatError(ev.code, 'the current password is wrong; nothing was changed', st));
        else out(undefined, formatError(ev.code, ev.message, st, ev.retryAfterMs));
        break;
      default:
        break;
    }
    maybeExit();
  }

  // ---- input

  /** On a terminal the typed line is taken off the screen (as irssi does): the server's echo shows it once. */
  function eraseTypedLine(line: string): void {
    if (!rl) return;
    const cols = Math.max(1, process.stdout.columns ?? 80);
    const width = rl.getPrompt().length + line.length;
    const rows = Math.max(1, Math.ceil(width / cols));
    process.stdout.write(`\u001b[${rows + (statusShown ? 1 : 0)}A\r\u001b[J`);
    statusShown = false;
    (rl as unknown as { prevRows?: number }).prevRows = 0;
  }

  function onLine(line: string): void {
    if (interactive) eraseTypedLine(line);
    const what = interpret(line, {
      current: currentRoom(),
      query: cur?.kind === 'dm' ? cur.name : undefined,
      oldestShown: cur?.oldest,
      lastSearch,
    });
    if (what === undefined) {
      draw('');
      return;
    }
    switch (what.kind) {
      case 'help':
        print(helpText());
        break;
      case 'quit':
        quit(0);
        return;
      case 'usage':
        out(undefined, formatError(what.code, what.message, st));
        if (!interactive) failures++;
        break;
      case 'request': {
        const req = what.req;
        if (req.type === 'dm' && cur?.kind !== 'dm') sentHere.add(nameKey(req.to));
        if (req.type === 'dm' && isIgnored(req.to)) notice(`you are ignoring ${neutraliseName(req.to)}: their replies will not be shown (/unignore ${neutraliseName(req.to)})`);
        core.request(req);
        if (what.switchTo) {
          // The window opens (or comes forward) now, with the prompt, not when the server answers.
          switchTo(openWin('room', what.switchTo));
        }
        break;
      }
      case 'window': {
        const w = windows[what.n - 1];
        if (w) switchTo(w);
        else out(undefined, formatError('window', `no window ${what.n}; there ${windows.length === 1 ? 'is 1' : `are ${windows.length}`}`, st));
        break;
      }
      case 'query': {
        const w = openWin('dm', what.name);
        core.followDm(what.name);
        switchTo(w);
        break;
      }
      case 'ignore':
        if (what.name === undefined) notice(ignored.size ? `ignoring: ${[...ignored.values()].map(neutraliseName).join(', ')}` : 'ignoring nobody');
        else if (isMe(what.name)) out(undefined, formatError('ignore', 'you cannot ignore yourself', st));
        else {
          ignored.set(nameKey(what.name), what.name);
          notice(`ignoring ${neutraliseName(what.name)}: their messages are hidden on this client (/unignore ${neutraliseName(what.name)})`);
        }
        break;
      case 'unignore':
        if (ignored.delete(nameKey(what.name))) notice(`no longer ignoring ${neutraliseName(what.name)}`);
        else out(undefined, formatError('unignore', `${neutraliseName(what.name)} is not ignored`, st));
        break;
      case 'register':
        void registerCommand();
        return;
      case 'password':
        void passwordCommand();
        return;
      case 'logout':
        if (core.account === false) print(formatError('logout', 'a guest is not logged in; /quit leaves', st));
        else core.request(what.all ? { type: 'logout', all: true } : { type: 'logout' });
        break;
    }
    draw('');
  }

  /** Tab: a command at the start of the line, #rooms, and names (with ": " when addressing someone). */
  function complete(line: string): [string[], string] {
    const word = /(\S*)$/.exec(line)![1]!;
    const atStart = word.length === line.length;
    const lower = word.toLowerCase();
    const match = (cands: Iterable<string>): string[] => [...new Set(cands)].filter((c) => c.toLowerCase().startsWith(lower)).sort((a, b) => a.localeCompare(b));
    if (atStart && word.startsWith('/')) return [match(commandNames().map((c) => `/${c}`)).map((c, _, all) => (all.length === 1 ? c + ' ' : c)), word];
    const rooms = [...new Set([...core.rooms.values(), ...knownRooms.values()])];
    if (word.startsWith('#') || /^\/(j|join|leave|part|names|n|users|w|history)\s+\S*$/i.test(line)) {
      const hits = match(rooms.map((r) => (word.startsWith('#') ? `#${r}` : r)));
      return [hits, word];
    }
    const here = cur?.kind === 'room' ? [...(members.get(nameKey(cur.name))?.values() ?? [])] : cur ? [cur.name] : [];
    const others = [...windows.filter((w) => w.kind === 'dm').map((w) => w.name), ...knownUsers.values()];
    let hits = match(here.filter((n) => !isMe(n)));
    if (hits.length === 0) hits = match(others.filter((n) => !isMe(n)));
    if (hits.length === 1 && atStart && cur?.kind === 'room') hits = [`${hits[0]}: `];
    else if (hits.length === 1) hits = [`${hits[0]} `];
    return [hits, word];
  }

  /** Alt-1..Alt-9 switch to windows 1-9, Alt-0 to 10 (what a terminal sends as ESC then the digit). */
  let keysHooked = false;
  function hookKeys(): void {
    if (keysHooked) return;
    keysHooked = true;
    process.stdin.on('keypress', (_s: string | undefined, key: { name?: string; meta?: boolean; ctrl?: boolean } | undefined) => {
      if (!rl || !key?.meta || key.ctrl || key.name === undefined || !/^[0-9]$/.test(key.name)) return;
      const n = key.name === '0' ? 10 : Number(key.name);
      const w = windows[n - 1];
      if (w) switchTo(w);
    });
  }

  /** Reads lines from stdin; `again` after a password prompt, when the chat prompt is drawn at once. */
  function openInput(again = false): void {
    const input = createInterface({
      input: process.stdin,
      output: interactive ? process.stdout : undefined,
      terminal: interactive,
      history: lineHistory,
      ...(interactive ? { completer: complete } : {}),
    });
    reader = input;
    if (interactive) {
      rl = input;
      statusShown = false;
      setPrompt();
      hookKeys();
      input.on('SIGINT', () => quit(0));
    }
    input.on('line', onLine);
    input.on('close', () => {
      if (reader !== input) return; // closed to ask for a password, not the end of input
      if (interactive) return quit(0);
      inputDone = true;
      maybeExit();
    });
    if (again) draw('');
  }

  openInput();
  // Queued before anything typed, so lines piped in at once land in the room after the join.
  cur = openWin('room', opts.room);
  recent.unshift(cur);
  setPrompt();
  core.request({ type: 'join', room: opts.room, history: 20 });
  if (opts.name !== undefined) {
    useName(opts.name);
    started = true;
    conn.start();
  } else askName();
}

main();
