// One writer per data directory. Two servers appending to the same log would interleave records
// and each would compact segments the other still reads: acknowledged messages would be lost. So the
// store takes a lock file holding its pid before it reads anything, and refuses to open while a live
// process holds it. A lock left by a killed server (kill -9, power loss) names a dead process and is
// taken over, so a crash never needs a hand to restart.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'LOCK';

/** Directories this process has locked: a second store on one of them is as wrong as a second server. */
const heldHere = new Set<string>();

export interface DirLock {
  release(): void;
}

/** Whether `pid` is a running process (a zombie, killed but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** The pid in a lock file, or undefined if it cannot be read or is not a pid. */
function holder(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock on `dir` (which must exist) or throws an Error that says who holds it. */
export function lockDir(dir: string): DirLock {
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(path)) throw new Error(`data dir ${dir} is already open in this process`);
  // Two tries: the second follows removing a stale lock, and loses cleanly if another starter won.
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = holder(path);
      // Our own pid in the file is a previous life of this pid (a container restarted as pid 1).
      if (pid !== undefined && pid !== process.pid && alive(pid)) {
        throw new Error(`data dir ${dir} is in use by process ${pid}; stop it first (or, if that process is not a Parley server, remove ${path})`);
      }
      if (attempt === 0) {
        try {
          unlinkSync(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    heldHere.add(path);
    let released = false;
    return {
      release(): void {
        if (released) return;
        released = true;
        heldHere.delete(path);
        try {
          unlinkSync(path);
        } catch {
          // Already gone (someone removed it by hand): nothing left to release.
        }
      },
    };
  }
  throw new Error(`data dir ${dir}: could not take ${path} (another server started at the same moment?)`);
}
