#!/usr/bin/env node
// `parley-server`: parse flags, start, stop gracefully on SIGINT/SIGTERM, and re-read the TLS
// certificate on SIGHUP.
import { resolve as resolvePath } from 'node:path';
import { accountsCommand } from './accounts/cli.js';
import { helpText, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { describeTarget, parseRedisUrl } from './redis/url.js';
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
  const bracket = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  const host = bracket(config.host);
  // Always printed, whatever the log level: scripts and tests wait for this line (and read it from
  // the start, so what is new goes at its end).
  const extra = [
    server.tls ? ' tls' : '',
    server.metricsPort !== undefined ? ` metrics=${bracket(config.metricsHost?.host ?? '')}:${server.metricsPort}` : '',
    server.ircPort === undefined ? '' : ` irc=${host}:${server.ircPort}`,
    server.ircTlsPort === undefined ? '' : ` ircs=${host}:${server.ircTlsPort}`,
    // Where the messages live, so nobody mistakes a --memory server for one that keeps them.
    config.redis !== undefined ? ` data=${describeTarget(parseRedisUrl(config.redis))}` : config.memory ? ' data=memory-only' : ` data=${resolvePath(config.dataDir)}`,
  ].join('');
  process.stderr.write(`parley listening tcp=${host}:${server.tcpPort} http=${host}:${server.httpPort}${extra}\n`);
  if (server.tls) {
    // Only with TLS: without it SIGHUP keeps its default meaning (the terminal went away: exit).
    const running = server;
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the TLS certificate and key');
      void running.reloadTls();
    });
  }

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
