#!/usr/bin/env node
// `parley-server`: parse flags, start, and stop gracefully on SIGINT/SIGTERM.
import { helpText, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
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
  process.stderr.write(`parley listening tcp=${host}:${server.tcpPort} http=${host}:${server.httpPort}\n`);

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
