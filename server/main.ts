#!/usr/bin/env node
// `parley-server`: parse flags, start, and stop gracefully on SIGINT/SIGTERM.
import { accountsCommand } from './accounts/cli.js';
import { helpText, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  if (process.argv[2] === 'accounts') {
    const io = { out: (l: string) => process.stdout.write(l.endsWith('\n') ? l : `${l}\n`), err: (l: string) => process.stderr.write(l.endsWith('\n') ? l : `${l}\n`) };
    process.exitCode = await accountsCommand(process.argv.slice(3), process.env, io);
    return;
  }
  const parsed = parseConfig(process.argv.slice(2), process.env);
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(helpText());
      return;
    }
    process.stderr.write(`parley-server: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const config = parsed.config;
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, log);
  } catch (err) {
    process.stderr.write(`parley-server: cannot start: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  // Always printed, whatever the log level: scripts and tests wait for this line.
  // The IRC part goes last, so scripts that match the start of the line keep working.
  const irc = server.ircPort === undefined ? '' : ` irc=${host}:${server.ircPort}`;
  process.stderr.write(`parley listening tcp=${host}:${server.tcpPort} http=${host}:${server.httpPort}${irc}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`parley-server: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: shutting down`);
    server.close().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`parley-server: shutdown failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
