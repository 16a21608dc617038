// Files beside the log that are shortcuts (sidecar indexes, the search snapshot): written to a temp
// file and renamed over the old one, so a reader finds the old file or the new one, never half of
// one. No fsync: losing one only costs a rebuild. Failures are reported, never thrown.
import * as fs from 'node:fs';

/** Synchronously (at close) or in the background; `done` runs after either way. */
export function writeFileAtomic(file: string, bytes: Buffer, sync: boolean, fail: (err: Error) => void, done: () => void = () => {}): void {
  const tmp = `${file}.tmp`;
  if (sync) {
    try {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, file);
    } catch (err) {
      fail(err as Error);
    }
    return done();
  }
  fs.writeFile(tmp, bytes, (err) => {
    if (err) {
      fail(err);
      return done();
    }
    fs.rename(tmp, file, (e) => {
      if (e) fail(e);
      done();
    });
  });
}
