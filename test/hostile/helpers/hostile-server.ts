// Starting and ending servers for the hostile tests. Attacks leave servers stalled or dead on purpose,
// so stopping never waits on a graceful shutdown that may not come, and flags the server does not
// have yet (the rewrite adds some) are passed only once its --help lists them.
import { spawnSync } from 'node:child_process';
import { helpLists } from '../../../bench/attacks.js';
import { SERVER_JS, startServer, type RunningServer } from '../../helpers/server.js';

let help: string | undefined;

/** The built server's --help text, read once. */
export function serverHelp(): string {
  help ??= spawnSync(process.execPath, [SERVER_JS, '--help'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  return help;
}

/**
 * Flags every hostile server gets: quiet logs (20,000 connects at info level is megabytes of stderr the
 * helper keeps in memory) and no rate limit once there is one, because a limiter would turn the set-up
 * (filling rooms, 20,000 hellos) into a test of the limiter.
 */
export function commonFlags(): string[] {
  return ['--log-level', 'warn', ...(helpLists('--no-rate-limit', serverHelp()) ? ['--no-rate-limit'] : [])];
}

export function isAlive(server: RunningServer): boolean {
  return server.proc.exitCode === null && server.proc.signalCode === null;
}

/** Ends a server that may be stalled in a long turn: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopHard(server: RunningServer | undefined, graceMs = 3000): Promise<void> {
  if (!server || !isAlive(server)) return;
  const exited = server.stop('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export { startServer, type RunningServer };
