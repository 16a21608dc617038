// Real IRC clients from Debian against the real server: ii (file-based: a FIFO to write commands to,
// a file per channel to read) logging in with PASS, and irssi in tmux logging in with SASL PLAIN and
// logging its channel to a file. Each joins a room the console is in, reads the history replayed on
// join (--irc-replay, since neither speaks chathistory), and talks both ways. Both skip loudly when the
// client is not installed, and fail instead under PARLEY_REQUIRE_ALL=1 (.ci/run installs them).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/require.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';

const S = 'irc.test';

function missing(cmd: string, args: string[], pkg: string): string | undefined {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    // ii prints its usage and exits 1: installed all the same.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${cmd} is not installed (apt-get install ${pkg})`;
    return undefined;
  }
}

/** Polls a file until it contains `text` (the clients write their logs as things happen). */
async function fileContains(path: string, text: string | RegExp, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const body = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (typeof text === 'string' ? body.includes(text) : text.test(body)) return body;
    if (Date.now() > end) throw new Error(`${path} never contained ${String(text)}; it holds:\n${body}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: RunningServer;
let con: TcpClient;

beforeAll(async () => {
  server = await startServer(['--server-name', S, '--irc-replay', '5']);
  // Accounts for the two clients, made over the console protocol.
  for (const name of ['iiacct', 'irssiacct']) (await accountTcp(server.tcpPort, name)).close();
  con = await helloTcp(server.tcpPort, 'consoleuser');
  con.send({ type: 'join', room: 'general', history: 0 });
  await con.next((e) => e.type === 'members');
  con.send({ type: 'say', room: 'general', text: 'said before they came', id: 'early' });
  await con.next((e) => e.type === 'ack' && e.re === 'early');
});
afterAll(async () => {
  con?.close();
  await server?.stop();
});

const skipIi = skipUnless(missing('ii', ['-v'], 'ii'), 'the ii (IRC client) test');
describe.skipIf(skipIi)('ii', () => {
  let proc: ChildProcess | undefined;
  afterAll(() => {
    if (proc && proc.exitCode === null) proc.kill();
  });

  it('logs in with PASS, joins, reads the replayed history, and talks both ways', async () => {
    const dir = tempDir('parley-ii-');
    proc = spawn('ii', ['-s', '127.0.0.1', '-p', String(server.ircPort), '-n', 'iiacct', '-i', dir, '-k', 'II_PASS', '-f', 'ii tester'], {
      stdio: 'ignore',
      env: { ...process.env, II_PASS: 'pw-of-iiacct' },
    });
    const host = join(dir, '127.0.0.1');
    await fileContains(join(host, 'out'), 'Welcome to the Parley IRC network, iiacct!iiacct@irc.test');
    writeFileSync(join(host, 'in'), '/j #general\n');
    const chan = join(host, '#general');
    // The join, then the history replayed after it.
    await fileContains(join(chan, 'out'), 'iiacct(iiacct@irc.test) has joined #general');
    await fileContains(join(chan, 'out'), '<consoleuser> said before they came');
    await con.next((e) => e.type === 'joined' && e.name === 'iiacct');
    writeFileSync(join(chan, 'in'), 'hello from ii\n');
    expect(await con.next((e) => e.type === 'message' && e.text === 'hello from ii', 10_000)).toMatchObject({ from: 'iiacct', room: 'general' });
    con.send({ type: 'say', room: 'general', text: 'hello ii' });
    await fileContains(join(chan, 'out'), '<consoleuser> hello ii');
    writeFileSync(join(host, 'in'), '/q bye now\n');
    await con.next((e) => e.type === 'left' && e.name === 'iiacct', 10_000);
  });
});

const skipIrssi = skipUnless(missing('irssi', ['--version'], 'irssi') ?? missing('tmux', ['-V'], 'tmux'), 'the irssi (IRC client) test');
describe.skipIf(skipIrssi)('irssi', () => {
  const session = `parley-irssi-${process.pid}`;
  afterAll(() => {
    try {
      execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  });

  it('logs in with SASL, autojoins, reads the replayed history, and talks both ways (actions too)', async () => {
    const home = tempDir('parley-irssi-');
    mkdirSync(join(home, 'logs'));
    writeFileSync(
      join(home, 'config'),
      `servers = ( { address = "127.0.0.1"; chatnet = "parley"; port = "${server.ircPort}"; use_tls = "no"; autoconnect = "yes"; } );
chatnets = { parley = { type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "irssiacct"; sasl_password = "pw-of-irssiacct"; }; };
channels = ( { name = "#general"; chatnet = "parley"; autojoin = "yes"; } );
settings = {
  core = { real_name = "Irssi Tester"; user_name = "irssi"; nick = "someothernick"; };
  "fe-common/core" = { autolog = "yes"; autolog_path = "${home}/logs/$tag/$0.log"; };
};
`,
    );
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '40', `irssi --home=${home}`]);
    const log = join(home, 'logs', 'parley', '#general.log');
    // SASL logged it in as the account, whatever nick it asked for; the replay follows the join.
    await fileContains(log, 'irssiacct [irssiacct@irc.test] has joined #general');
    await fileContains(log, '< consoleuser> said before they came');
    await con.next((e) => e.type === 'joined' && e.name === 'irssiacct');
    con.send({ type: 'say', room: 'general', text: 'hello irssi' });
    await fileContains(log, '< consoleuser> hello irssi');
    const type = (text: string): void => {
      execFileSync('tmux', ['send-keys', '-t', session, '-l', text]);
      execFileSync('tmux', ['send-keys', '-t', session, 'Enter']);
    };
    type('/msg #general hello from irssi');
    expect(await con.next((e) => e.type === 'message' && e.text === 'hello from irssi', 15_000)).toMatchObject({ from: 'irssiacct', room: 'general' });
    type('/action #general waves');
    expect(await con.next((e) => e.type === 'message' && e.text === 'waves', 15_000)).toMatchObject({ from: 'irssiacct', action: true });
    con.send({ type: 'say', room: 'general', text: 'grins', action: true });
    await fileContains(log, '* consoleuser grins');
    type('/quit see you');
    await con.next((e) => e.type === 'left' && e.name === 'irssiacct', 15_000);
  });
});
