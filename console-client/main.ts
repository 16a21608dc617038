#!/usr/bin/env node
// parley: the terminal client. Interactive on a terminal (prompt, colour, lines printed above what
// you are typing); a pipe on stdin makes it a script tool that sends each line and exits once the
// server has acknowledged all of them.
import { homedir } from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import { ClientCore, type HelloRefused, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, ServerEvent } from '../protocol/messages.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { helpText, interpret } from './commands.js';
import { Connection } from './connection.js';
import { formatError, formatMessage, formatNotice, neutralise, pickStyle, userName, waitText } from './render.js';
import { passwordSource, readSecret, type PasswordSource } from './secret.js';
import { makeDialer, tlsCa, tlsFromEnv, tlsSwitch, TLS_USAGE, type TlsChoice } from './tls-options.js';
import { readToken, deleteToken, saveToken, tokenPath } from './token-store.js';

const USAGE = `parley: the Parley console client

usage: parley [--name NAME] [--host HOST] [--port PORT] [--room ROOM] [--password-file FILE]
              [--retry-for SECONDS] [--tls | --ca FILE | --insecure]

  --name NAME   your name (asked for when missing on a terminal); env PARLEY_NAME
  --password-file FILE
                when NAME is a registered account: its password is the first line of FILE;
                env PARLEY_PASSWORD. Without either, a terminal asks for it (nothing is echoed)
  --host HOST   server address (default localhost); env PARLEY_HOST
  --port PORT   server TCP port (default 9000); env PARLEY_PORT
  --room ROOM   room to join first (default general); env PARLEY_ROOM
  --retry-for SECONDS
                with stdin from a pipe: how long to keep reconnecting after the server goes
                away before giving up with exit 1 (default 60); a terminal session retries
                until /quit; env PARLEY_RETRY_FOR
${TLS_USAGE}
  --help        this text

Accounts: after a password login (or /register) the client keeps a login token, never the password,
in $XDG_CONFIG_HOME/parley/ (default ~/.config/parley/; one file per server and name, mode 0600) and
logs in with it from then on. A token the server refuses is deleted and the password asked for again.

Commands once connected:
${helpText()}
With stdin from a pipe, each line is sent and parley exits when all are acknowledged.`;

interface Options {
  name: string | undefined;
  host: string;
  port: number;
  room: string;
  retryForS: number;
  passwordFile: string | undefined;
  tls: TlsChoice;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options | string {
  const o: Options = {
    name: env.PARLEY_NAME,
    host: env.PARLEY_HOST ?? 'localhost',
    port: Number(env.PARLEY_PORT ?? 9000),
    room: env.PARLEY_ROOM ?? 'general',
    retryForS: Number(env.PARLEY_RETRY_FOR ?? 60),
    passwordFile: undefined,
    tls: tlsFromEnv(env),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return 'help';
    if (tlsSwitch(a, o.tls)) continue;
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${flag} needs a value`;
    if (flag === '--name') o.name = value;
    else if (flag === '--host') o.host = value;
    else if (flag === '--port') o.port = Number(value);
    else if (flag === '--room') o.room = value.replace(/^#/, '');
    else if (flag === '--retry-for') o.retryForS = Number(value);
    else if (flag === '--password-file') o.passwordFile = value;
    else if (flag === '--ca') tlsCa(value, o.tls);
    else return `unknown flag ${flag}; --help lists them`;
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return 'the port must be 1-65535';
  if (!Number.isFinite(o.retryForS) || o.retryForS < 0) return '--retry-for must be a number of seconds, 0 or more';
  if (o.name !== undefined && !isValidName(o.name)) return 'a name is 1-32 letters, digits, _ - or .';
  if (!isValidName(o.room)) return 'a room name is 1-32 letters, digits, _ - or .';
  return o;
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
  const dial = makeDialer(opts.tls, (warning) => process.stderr.write(warning));
  if (typeof dial === 'string') {
    process.stderr.write(`parley: ${dial}\n`);
    process.exitCode = 2;
    return;
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
  const server = `${opts.host}:${opts.port}`;

  /** The line editor on a terminal; closed while a password is typed, so nothing can echo it. */
  let rl: Interface | undefined;
  /** Whatever reads stdin now (rl, or the piped reader); a closed one's 'close' is not the end of input. */
  let reader: Interface | undefined;
  let lineHistory: string[] = [];
  /** A password prompt on screen: printed lines go above it and it is drawn again. */
  let secretPrompt: string | undefined;
  let secretReader: { cancel(): void } | undefined;
  let current: string | undefined;
  const oldestShown = new Map<string, number>();
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

  const print = (line: string): void => {
    if (rl) {
      // Clear the prompt line, print, then redraw the prompt with whatever the user had typed.
      process.stdout.write('\r\u001b[K' + line + '\n');
      rl.prompt(true);
    } else if (secretPrompt !== undefined) {
      process.stdout.write('\r\u001b[K' + line + '\n' + secretPrompt);
    } else process.stdout.write(line + '\n');
  };
  const notice = (text: string): void => print(formatNotice(text, st));
  const setPrompt = (): void => rl?.setPrompt(current ? `[#${current}] > ` : '> ');
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
  const conn = new Connection(opts.host, opts.port, {
    open() {
      everConnected = true;
      sayHello();
    },
    event: (ev) => onEvent(ev),
    lost(reason, retryInMs) {
      for (const p of core.disconnected()) unconfirmed(p);
      if (quitting || paused) return;
      if (!everConnected && !interactive) {
        process.stderr.write(`parley: cannot connect to ${server}: ${reason}\n`);
        process.exit(1);
      }
      if (retryInMs === undefined) {
        // Only a piped client gives up (see --retry-for); what it had not got confirmed was listed above.
        process.stderr.write(`parley: gave up on ${server} after ${opts.retryForS} s without a connection: ${reason}\n`);
        process.exit(1);
      }
      print(formatNotice(`connection to ${server} lost (${reason}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s`, st));
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
    conn.send({ type: 'bye' });
    conn.stop();
    reader = undefined;
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
    if (why) print(formatError('name', why, st));
    rl.question('Your name: ', (answer) => {
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

  function show(m: ChatMessage): void {
    print(formatMessage(m, core.name, current, st, core.sentByGuest(m)));
  }

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
        notice(`connected to ${server} as ${userName(ev.name, !ev.account)} (${ev.account ? 'account' : 'guest'}, ${ev.server})`);
        if (!ev.account && source && !toldGuest) {
          toldGuest = true;
          notice(`${neutralise(ev.name)} has no account here, so you are a guest and ${source.label} was not used; /register makes the name yours`);
        }
        rl?.prompt(true);
        return;
      case 'members': {
        // The server's spelling of the room wins ("Lobby" even if we typed "lobby").
        if (current === undefined || nameKey(current) === nameKey(ev.room)) current = ev.room;
        setPrompt();
        const guests = new Set((ev.guests ?? []).map(nameKey));
        notice(`#${ev.room}: ${ev.users.map((u) => userName(u, guests.has(nameKey(u)))).join(', ')}`);
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
        if (paging) notice(msgs.length ? `older messages in #${ev.room}:` : `no older messages in #${ev.room}`);
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
        if (ev.name !== core.name) print(formatNotice(`${userName(ev.name, ev.guest)} joined #${ev.room}`, st, ev.ts));
        break;
      case 'left':
        if (ev.name === core.name) {
          print(formatNotice(`you left #${ev.room}`, st, ev.ts));
          if (current && nameKey(current) === nameKey(ev.room)) current = core.rooms.values().next().value;
          setPrompt();
        } else print(formatNotice(`${ev.name} left #${ev.room}${ev.reason ? ' (disconnected)' : ''}`, st, ev.ts));
        break;
      case 'users':
        notice(
          `${ev.room ? `in #${ev.room}` : 'known users'}: ` +
            (ev.users
              .map((u) => {
                const name = userName(u.name, u.guest);
                return u.online ? name : `${name} (offline${u.lastSeen ? `, last seen ${u.lastSeen.slice(0, 16).replace('T', ' ')}` : ''})`;
              })
              .join(', ') || 'nobody') +
            (ev.more === true ? ` (and more after these ${ev.users.length})` : ''),
        );
        break;
      case 'rooms':
        notice(`rooms: ${ev.rooms.map((r) => `#${r.name} (${r.members})`).join(', ') || 'none yet'}`);
        break;
      case 'time':
        notice(`server time: ${ev.time}`);
        break;
      case 'ack': {
        const req = settled?.req;
        if (req?.type === 'register') notice(`${neutralise(core.name ?? '')} is now a registered account: from now on the name needs its password (or this device's saved login)`);
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
        if (ev.code === 'bad_credentials' && settled?.req.type === 'password') print(formatError(ev.code, 'the current password is wrong; nothing was changed', st));
        else print(formatError(ev.code, ev.message, st, ev.retryAfterMs));
        break;
      default:
        break;
    }
    maybeExit();
  }

  // ---- input

  function onLine(line: string): void {
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
    rl?.prompt(true);
  }

  /** Reads lines from stdin; `again` after a password prompt, when the chat prompt is drawn at once. */
  function openInput(again = false): void {
    const input = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive, history: lineHistory });
    reader = input;
    if (interactive) {
      rl = input;
      setPrompt();
      input.on('SIGINT', () => quit(0));
    }
    input.on('line', onLine);
    input.on('close', () => {
      if (reader !== input) return; // closed to ask for a password, not the end of input
      if (interactive) return quit(0);
      inputDone = true;
      maybeExit();
    });
    if (again) rl?.prompt(true);
  }

  openInput();
  // Queued before anything typed, so lines piped in at once land in the room after the join.
  current = opts.room;
  setPrompt();
  core.request({ type: 'join', room: opts.room, history: 20 });
  if (opts.name !== undefined) {
    useName(opts.name);
    started = true;
    conn.start();
  } else askName();
}

main();
