// One server per data directory: a second store or server on a locked directory is refused with the
// holder's pid; a lock left by a dead (or killed but unreaped) process is taken over, so a crash never
// needs a hand to restart.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDir } from '../../server/store/dir-lock.js';
import { FileStore } from '../../server/store/file-store.js';
import { SERVER_JS, startServer, tempDir, type RunningServer } from '../helpers/server.js';

const dirs: string[] = [];
const procs: ChildProcess[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop('SIGKILL');
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const d = tempDir('parley-lock-');
  dirs.push(d);
  return d;
}

function store(dir: string): FileStore {
  return new FileStore({ dir, fsync: 'batch', historyPerRoom: 100, log: () => {} });
}

function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
}

/** A live process that is not us: its pid goes into a lock file. */
function sleeper(): ChildProcess {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' });
  procs.push(p);
  return p;
}

describe('data dir lock', () => {
  it('a second store in this process is refused until the first closes, and close removes the lock', async () => {
    const dir = newDir();
    const a = store(dir);
    await a.open();
    expect(fs.readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    await expect(store(dir).open()).rejects.toThrow(/already open in this process/);
    await a.close();
    expect(fs.existsSync(join(dir, LOCK_FILE))).toBe(false);
    const b = store(dir);
    await b.open();
    await b.close();
  });

  it('a lock held by another live process is refused with its pid, and taken over once it is dead', async () => {
    const dir = newDir();
    const other = sleeper();
    fs.writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
    expect(() => lockDir(dir)).toThrow(new RegExp(`in use by process ${other.pid}`));
    await expect(store(dir).open()).rejects.toThrow(/in use by process/);
    other.kill('SIGKILL');
    await exited(other);
    const lock = lockDir(dir);
    expect(fs.readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('a killed process that is not yet reaped (a zombie) does not hold the lock', async () => {
    const dir = newDir();
    // sh starts a background sleep, prints its pid, then becomes a sleep that never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    procs.push(parent);
    const pid = await new Promise<number>((r) => parent.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
    // Kill only once sh has become sleep: sh itself would reap the child, sleep never does.
    const comm = (p: number): string => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    await expect.poll(() => comm(parent.pid!), { timeout: 5000, interval: 10 }).toBe('sleep');
    process.kill(pid, 'SIGKILL');
    const state = (): string => /^\d+ \(.*\) (\S)/s.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?';
    await expect.poll(state, { timeout: 5000, interval: 10 }).toBe('Z');
    fs.writeFileSync(join(dir, LOCK_FILE), `${pid}\n`);
    const lock = lockDir(dir);
    lock.release();
  });

  it.each([
    ['empty', ''],
    ['not a pid', 'hello\n'],
    ['our own pid (a container restarted as the same pid)', `${process.pid}\n`],
  ])('a lock file that is %s is taken over', (_what, content) => {
    const dir = newDir();
    fs.writeFileSync(join(dir, LOCK_FILE), content);
    const lock = lockDir(dir);
    expect(fs.readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('a second server on the same --data-dir exits 1 naming the first; after kill -9 of the first a new one starts', async () => {
    const dir = newDir();
    const first = await startServer(['--data-dir', dir]);
    servers.push(first);
    const second = spawn(process.execPath, [SERVER_JS, '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(second);
    let err = '';
    second.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain(`in use by process ${first.proc.pid}`);
    // The first still serves.
    const health = await fetch(`http://127.0.0.1:${first.httpPort}/healthz`);
    expect(health.status).toBe(200);
    await first.stop('SIGKILL');
    const third = await startServer(['--data-dir', dir]);
    servers.push(third);
    expect(fs.readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(third.proc.pid));
  });
});
