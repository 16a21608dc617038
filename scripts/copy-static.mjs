// The web client's HTML and CSS are hand-written files that tsc does not emit; copy them beside the
// compiled modules so that dist/web is the whole static root the server serves.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const src = 'web-client';
const out = join('dist', 'web');
mkdirSync(out, { recursive: true });
for (const name of readdirSync(src)) {
  if (!name.endsWith('.ts')) cpSync(join(src, name), join(out, name), { recursive: true });
}
