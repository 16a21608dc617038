// server/ws/ is a library: it imports only itself and Node built-ins, never the chat server around it,
// so it can be lifted out (echo.ts is built from it alone) and the server depends on it, not the reverse.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server.js';

describe('server/ws stands alone', () => {
  it('imports nothing but its own files and node: built-ins', () => {
    const dir = join(ROOT, 'server', 'ws');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('index.ts');
    const outside: string[] = [];
    for (const f of files) {
      const src = readFileSync(join(dir, f), 'utf8');
      for (const m of src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (!(spec.startsWith('./') || spec.startsWith('node:'))) outside.push(`${f}: ${spec}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
