// There is no Docker engine on the build machines, so the Dockerfile is checked as far as a machine
// without one can: its build stage is replayed (only what it COPYs, then its build command), and the
// runtime stage's contents (package.json + dist, no node_modules) must start the server with the
// image's environment. docker-compose.yaml must agree with the image's ports and volume.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeCert } from '../helpers/certs.js';
import { ROOT, startServer, tempDir } from '../helpers/server.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = dockerfile.split(/^FROM /m).slice(1);
const [buildStage, runStage] = stages as [string, string];

function copies(stage: string): { from?: string; src: string[]; dest: string }[] {
  const out: { from?: string; src: string[]; dest: string }[] = [];
  for (const m of stage.matchAll(/^COPY\s+(?:--from=(\S+)\s+)?(.+)$/gm)) {
    const parts = m[2]!.trim().split(/\s+/);
    out.push({ from: m[1], src: parts.slice(0, -1), dest: parts[parts.length - 1]! });
  }
  return out;
}

describe('Dockerfile and docker-compose.yaml', () => {
  it('both stages use Node 20 or later', () => {
    expect(stages).toHaveLength(2);
    for (const s of stages) expect(Number(/^node:(\d+)/.exec(s)![1])).toBeGreaterThanOrEqual(20);
  });

  it('the build stage builds from exactly what it copies, and the runtime stage runs without node_modules', async () => {
    const ctx = tempDir('parley-docker-');
    for (const c of copies(buildStage)) {
      for (const src of c.src) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
        cpSync(join(ROOT, src), join(ctx, c.dest === './' ? src : c.dest), { recursive: true });
      }
    }
    // Stand-in for the stage's `npm ci`: the same locked packages, already installed here.
    symlinkSync(join(ROOT, 'node_modules'), join(ctx, 'node_modules'));
    const build = /^RUN (npm run build)$/m.exec(buildStage);
    expect(build).not.toBeNull();
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ctx, stdio: 'pipe' });

    const app = tempDir('parley-image-');
    for (const c of copies(runStage)) {
      // `COPY --from=build /app/dist ./dist`: the build stage's WORKDIR /app is `ctx` here.
      for (const src of c.src) {
        const from = c.from ? join(ctx, src.replace(/^\/app\//, '')) : join(ROOT, src);
        cpSync(from, join(app, c.dest === './' ? src : c.dest), { recursive: true });
      }
    }
    expect(existsSync(join(app, 'node_modules'))).toBe(false);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runStage)![1]!) as string[];
    expect(cmd[0]).toBe('node');
    const env: Record<string, string> = {};
    for (const m of runStage.matchAll(/(PARLEY_[A-Z_]+)=(\S+)/g)) env[m[1]!] = m[2]!;
    expect(env.PARLEY_HOST).toBe('0.0.0.0');
    const dataDir = join(app, 'data');
    mkdirSync(dataDir);
    const proc = spawn(process.execPath, cmd.slice(1), {
      cwd: app,
      env: { ...process.env, ...env, PARLEY_DATA_DIR: dataDir, PARLEY_TCP_PORT: '0', PARLEY_HTTP_PORT: '0', PARLEY_IRC_PORT: '0', PARLEY_IRC_TLS_PORT: '0', PARLEY_HOST: '127.0.0.1' },
    });
    let err = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line:\n${err}`)), 10_000);
      proc.stderr.on('data', () => {
        const m = /http=\S+:(\d+)/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { store: string }).store).toBe('file');
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    proc.kill('SIGTERM');
    expect(await new Promise((r) => proc.once('exit', r))).toBe(0);
  }, 120_000);

  it('the HEALTHCHECK probes /healthz over HTTP, and over HTTPS when PARLEY_TLS_CERT is set', async () => {
    const cmd = JSON.parse(/^\s+CMD (\[.*\])$/m.exec(/^HEALTHCHECK[^\n]*\\\n([^\n]*)$/m.exec(runStage)![1]!)![1]!) as string[];
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    const probe = (env: NodeJS.ProcessEnv): Promise<number | null> =>
      new Promise((resolve) => {
        const p = spawn(process.execPath, cmd.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' });
        p.once('exit', resolve);
      });
    const cert = makeCert(tempDir('parley-docker-tls-'));
    const tlsEnv = { PARLEY_TLS_CERT: cert.certFile, PARLEY_TLS_KEY: cert.keyFile };
    const [plain, tls] = await Promise.all([startServer(), startServer([], tlsEnv)]);
    try {
      expect(await probe({ PARLEY_HTTP_PORT: String(plain.httpPort) })).toBe(0);
      expect(await probe({ PARLEY_HTTP_PORT: String(tls.httpPort), ...tlsEnv })).toBe(0);
      // The probe fails when nothing answers /healthz the way it asks (here: plain HTTP to HTTPS).
      expect(await probe({ PARLEY_HTTP_PORT: String(tls.httpPort) })).toBe(1);
    } finally {
      await Promise.all([plain.stop(), tls.stop()]);
    }
  }, 60_000);

  it('exposes the default ports, keeps data in a volume, and compose agrees', () => {
    expect(runStage).toMatch(/^EXPOSE 9000 8080$/m);
    expect(runStage).toMatch(/PARLEY_DATA_DIR=\/data/);
    expect(runStage).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(runStage).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const compose = readFileSync(join(ROOT, 'docker-compose.yaml'), 'utf8');
    expect(compose).toMatch(/^\s+build: \.$/m);
    expect(compose).toContain('"9000:9000"');
    expect(compose).toContain('"8080:8080"');
    expect(compose).toMatch(/- parley-data:\/data$/m);
    // No tabs: YAML forbids them for indentation.
    expect(compose).not.toMatch(/\t/);
  });
});
