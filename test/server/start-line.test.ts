// The start line scripts wait for: it begins `parley listening tcp=... http=...` at every log level, and
// ends saying where messages are kept, so a --memory server is never mistaken for one that keeps them.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer, tempDir } from '../helpers/server.js';

describe('start line', () => {
  it('says data=memory-only for --memory, and the data dir otherwise, at log level silent too', async () => {
    const mem = await startServer(['--log-level', 'silent']);
    expect(mem.stderr()).toMatch(/^parley listening tcp=127\.0\.0\.1:\d+ http=127\.0\.0\.1:\d+.* data=memory-only$/m);
    await mem.stop();
    const dir = tempDir();
    const disk = await startServer(['--data-dir', dir, '--log-level', 'silent']);
    expect(disk.stderr()).toMatch(new RegExp(`^parley listening tcp=\\S+ http=\\S+.* data=${resolve(dir).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    await disk.stop();
  });
});
