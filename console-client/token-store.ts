// Where the console client keeps the login token of an account, so it can log in again (after a
// reconnect, or next time it starts) without the password, which is never written anywhere.
//
// One file per server and name: $XDG_CONFIG_HOME/parley/token-HOST-PORT-NAME (XDG_CONFIG_HOME
// defaults to ~/.config). The directory is 0700 and the file 0600, because a token is as good as the
// password until it expires or is revoked; the file is written to a temporary name and renamed, so a
// crash never leaves half a token behind.
import { closeSync, chmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { nameKey } from '../protocol/validate.js';

/** The directory the client's files live in. A relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'parley');
}

/** The token file of `name` on `host:port`. Names are [A-Za-z0-9_.-] and the host is escaped, so it is one path segment. */
export function tokenPath(host: string, port: number, name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), `token-${encodeURIComponent(host.toLowerCase())}-${port}-${nameKey(name)}`);
}

/** The saved token, or undefined when there is none (or it cannot be read). */
export function readToken(path: string): string | undefined {
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Writes the token atomically with mode 0600 in a 0700 directory. Throws when it cannot. */
export function saveToken(path: string, token: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The directory may have existed with a wider mode (made by hand, or by an older version).
  if ((statSync(dir).mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  // 'wx': never follows or reuses a file someone placed there; 0600 from the first byte.
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, token + '\n');
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    // The rename is durable once the directory is.
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems cannot fsync a directory; the token is written either way.
  }
}

/** Deletes the token file; a missing one is fine. */
export function deleteToken(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
