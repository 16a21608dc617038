#!/usr/bin/env node
// parley: the terminal client. Interactive on a terminal (prompt, colour, lines printed above what
// you are typing); a pipe on stdin makes it a script tool that sends each line and exits once the
// server has acknowledged all of them.
import { createInterface, type Interface } from 'node:readline';
import { ClientCore, moreUsers, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, ErrorEvent, ServerEvent } from '../protocol/messages.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { helpText, interpret } from './commands.js';
import { Connection, describe, type Target } from './connection.js';
import { formatError, formatMessage, formatNotice, neutralise, pickStyle } from './render.js';

const USAGE = `parley: the Parley console client

usage: parley [--name NAME] [--host HOST] [--port PORT | --servers LIST] [--room ROOM] [--retry-for SECONDS]

  --name NAME   your name (asked for when missing on a terminal); env PARLEY_NAME
  --host HOST   server address (default localhost); env PARLEY_HOST
  --port PORT   server TCP port (default 9000); env PARLEY_PORT
  --servers LIST
                the nodes of a cluster, comma-separated HOST:PORT (instead of --host and --port):
                after a lost connection the next one is tried; env PARLEY_SERVERS
  --room ROOM   room to join first (default general); env PARLEY_ROOM
  --retry-for SECONDS
                with stdin from a pipe: how long to keep reconnecting after the server goes
                away before giving up with exit 1 (default 60); a terminal session retries
                until /quit; env PARLEY_RETRY_FOR
  --help        this text

Commands once connected:
${helpText()}
With stdin from a pipe, each line is sent and parley exits when all are acknowledged.`;

interface Options {
  name: string | undefined;
  host: string;
  port: number;
  /** --servers: when given, these instead of host and port. */
  servers: Target[] | undefined;
  room: string;
  retryForS: number;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options | string {
  const o: Options = {
    name: env.PARLEY_NAME,
    host: env.PARLEY_HOST ?? 'localhost',
    port: Number(env.PARLEY_PORT ?? 9000),
    servers: undefined,
    room: env.PARLEY_ROOM ?? 'general',
    retryForS: Number(env.PARLEY_RETRY_FOR ?? 60),
  };
  let serverList = env.PARLEY_SERVERS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return 'help';
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${flag} needs a value`;
    if (flag === '--name') o.name = value;
    else if (flag === '--host') o.host = value;
    else if (flag === '--port') o.port = Number(value);
    else if (flag === '--servers') serverList = value;
    else if (flag === '--room') o.room = value.replace(/^#/, '');
    else if (flag === '--retry-for') o.retryForS = Number(value);
    else return `unknown flag ${flag}; --help lists them`;
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return 'the port must be 1-65535';
  if (serverList !== undefined && serverList !== '') {
    const servers = parseServers(serverList);
    if (typeof servers === 'string') return servers;
    o.servers = servers;
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
  if (typeof parsed === 'string') {
    process.stderr.write(`parley: ${parsed}\n`);
    process.exitCode = 2;
    return;
  }
  const opts = parsed;
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  if (!interactive && opts.name === undefined) {
    process.stderr.write('parley: --name is required when stdin is not a terminal\n');
    process.exitCode = 2;
    return;
  }
  const st = pickStyle(Boolean(process.stdout.isTTY), process.env);

  let rl: Interface | undefined;
  let current: string | undefined;
  const oldestShown = new Map<string, number>();
  let everConnected = false;
  let helloId: string | number | undefined;
  let inputDone = false;
  let failures = 0;
  let quitting = false;

  const print = (line: string): void => {
    if (rl) {
      // Clear the prompt line, print, then redraw the prompt with whatever the user had typed.
      process.stdout.write('\r\u001b[K' + line + '\n');
      rl.prompt(true);
    } else process.stdout.write(line + '\n');
  };
  const setPrompt = (): void => rl?.setPrompt(current ? `[#${current}] > ` : '> ');

  // DMs a reconnect's catch-up found (or held back while it ran) are printed like live ones, in seq order.
  const core = new ClientCore({ send: (req) => conn.send(req), show: (msgs) => msgs.forEach(show) });
  // A terminal user is there to see the reconnect notices and can /quit; a script must not hang forever.
  const conn = new Connection(opts.servers ?? [{ host: opts.host, port: opts.port }], {
    open() {
      everConnected = true;
      if (opts.name !== undefined) helloId = core.connected(opts.name);
    },
    event: (ev) => onEvent(ev),
    lost(reason, retryInMs) {
      for (const p of core.disconnected()) unconfirmed(p);
      if (quitting) return;
      if (!everConnected && !interactive && conn.triedAll) {
        process.stderr.write(`parley: cannot connect to ${describe(conn.target)}: ${reason}\n`);
        process.exit(1);
      }
      if (retryInMs === undefined) {
        // Only a piped client gives up (see --retry-for); what it had not got confirmed was listed above.
        process.stderr.write(`parley: gave up on ${describe(conn.target)} after ${opts.retryForS} s without a connection: ${reason}\n`);
        process.exit(1);
      }
      print(formatNotice(`connection to ${describe(conn.target)} lost (${reason}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s`, st));
    },
  }, interactive ? undefined : opts.retryForS * 1000);

  function unconfirmed(p: Pending): void {
    if (p.req.type === 'say' || p.req.type === 'dm') {
      failures++;
      print(formatError('unconfirmed', `the server did not confirm "${p.req.text.slice(0, 60)}" before the connection broke; it may not have been delivered`, st));
    }
  }

  function maybeExit(): void {
    if (!interactive && inputDone && core.isReady && core.outstanding === 0) quit(failures > 0 ? 1 : 0);
  }

  function quit(code: number): void {
    if (quitting) return;
    quitting = true;
    process.exitCode = code;
    conn.send({ type: 'bye' });
    conn.stop();
    rl?.close();
    // Let the bye leave before the process goes.
    setTimeout(() => process.exit(code), 50).unref();
  }

  function askName(why?: string): void {
    if (!rl) return;
    if (why) print(formatError('name', why, st));
    rl.question('Your name: ', (answer) => {
      const name = answer.trim();
      if (!isValidName(name)) return askName('a name is 1-32 letters, digits, _ - or .');
      opts.name = name;
      // Not connected yet: the connection's open handler says hello with this name.
      if (conn.isOpen) helloId = core.connected(name);
    });
  }

  function show(m: ChatMessage): void {
    print(formatMessage(m, core.name, current, st));
  }

  function onHelloError(ev: ErrorEvent): void {
    if (ev.code === 'name_taken' || ev.code === 'bad_name') {
      const why = ev.code === 'name_taken' ? `${opts.name} is already taken; choose another` : ev.message;
      if (interactive) return askName(why);
      process.stderr.write(`parley: ${ev.code}: ${neutralise(why)}\n`);
      process.exit(1);
    }
    print(formatError(ev.code, ev.message, st));
  }

  function onEvent(ev: ServerEvent): void {
    if (!core.accept(ev)) return;
    const settled = 're' in ev ? core.settle(ev.re) : undefined;
    switch (ev.type) {
      case 'welcome':
        print(formatNotice(`connected to ${describe(conn.target)} as ${ev.name} (${ev.server})`, st));
        rl?.prompt(true);
        return;
      case 'members': {
        // The server's spelling of the room wins ("Lobby" even if we typed "lobby").
        if (current === undefined || nameKey(current) === nameKey(ev.room)) current = ev.room;
        setPrompt();
        print(formatNotice(`#${ev.room}: ${ev.users.map(neutralise).join(', ')}`, st));
        break;
      }
      case 'history': {
        if (ev.room === undefined) {
          // A direct conversation's history: this client does not ask for one, but shows it if sent.
          for (const m of ev.messages) show(m);
          break;
        }
        const paging = settled?.req.type === 'history';
        const msgs = paging ? ev.messages : core.freshHistory(ev.messages);
        if (paging) print(formatNotice(msgs.length ? `older messages in #${ev.room}:` : `no older messages in #${ev.room}`, st));
        for (const m of msgs) show(m);
        const first = msgs[0];
        const key = nameKey(ev.room);
        if (first && (paging || !oldestShown.has(key))) oldestShown.set(key, Math.min(first.seq, oldestShown.get(key) ?? Infinity));
        break;
      }
      case 'message':
        show(ev);
        break;
      case 'joined':
        if (ev.name !== core.name) print(formatNotice(`${ev.name} joined #${ev.room}`, st, ev.ts));
        break;
      case 'left':
        if (ev.name === core.name) {
          print(formatNotice(`you left #${ev.room}`, st, ev.ts));
          if (current && nameKey(current) === nameKey(ev.room)) current = core.rooms.values().next().value;
          setPrompt();
        } else print(formatNotice(`${ev.name} left #${ev.room}${ev.reason ? ' (disconnected)' : ''}`, st, ev.ts));
        break;
      case 'users':
        print(
          formatNotice(
            `${ev.room ? `in #${ev.room}` : 'known users'}: ` +
              (ev.users.map((u) => (u.online ? u.name : `${u.name} (offline${u.lastSeen ? `, last seen ${u.lastSeen.slice(0, 16).replace('T', ' ')}` : ''})`)).join(', ') || 'nobody') +
              (moreUsers(ev) ? ` (and more after these ${ev.users.length})` : ''),
            st,
          ),
        );
        break;
      case 'rooms':
        print(formatNotice(`rooms: ${ev.rooms.map((r) => `#${r.name} (${r.members})`).join(', ') || 'none yet'}`, st));
        break;
      case 'time':
        print(formatNotice(`server time: ${ev.time}`, st));
        break;
      case 'bye':
        if (ev.reason === 'shutdown') print(formatNotice('the server is shutting down', st));
        break;
      case 'error':
        if (ev.re !== undefined && ev.re === helloId) {
          onHelloError(ev);
          return;
        }
        if (settled) failures++;
        print(formatError(ev.code, ev.message, st));
        break;
      default:
        break;
    }
    maybeExit();
  }

  rl = undefined;
  const input = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  if (interactive) {
    rl = input;
    setPrompt();
    input.on('SIGINT', () => quit(0));
  }
  input.on('line', (line) => {
    const what = interpret(line, { current, oldestShown: current ? oldestShown.get(nameKey(current)) : undefined });
    if (what === undefined) {
      rl?.prompt(true);
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
        print(formatError('usage', what.message, st));
        if (!interactive) failures++;
        break;
      case 'request':
        core.request(what.req);
        if (what.switchTo) {
          current = what.switchTo;
          setPrompt();
        }
        break;
    }
    rl?.prompt(true);
  });
  input.on('close', () => {
    if (interactive) return quit(0);
    inputDone = true;
    maybeExit();
  });

  // Queued before anything typed, so lines piped in at once land in the room after the join.
  current = opts.room;
  setPrompt();
  core.request({ type: 'join', room: opts.room, history: 20 });
  conn.start();
  if (interactive && opts.name === undefined) askName();
}

main();
