// `make run-web`: the web client is served by the server, so this opens the way to it. When a Parley
// server already answers on the HTTP port, it says where and starts nothing (a second server would
// only fail on the taken ports); otherwise it starts one and says where to point the browser.
import { spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const args = process.argv.slice(2);
const flag = args.findIndex((a) => a === '--http-port' || a.startsWith('--http-port='));
const fromArgs = flag < 0 ? undefined : args[flag].includes('=') ? args[flag].split('=')[1] : args[flag + 1];
const port = Number(fromArgs ?? process.env.PARLEY_HTTP_PORT ?? 8080);

/** Resolves with the scheme of a Parley server answering /healthz on this port, or undefined. */
function probe(scheme) {
  const get = scheme === 'https' ? httpsGet : httpGet;
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1500, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d.slice(0, 4096)));
      res.on('end', () => resolve(res.statusCode === 200 && /"server":"parley\//.test(body) ? scheme : undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

const running = port > 0 ? ((await probe('http')) ?? (await probe('https'))) : undefined;
if (running) {
  console.log(`A Parley server already runs on port ${port}: open ${running}://localhost:${port}/ (no second server started)`);
  process.exit(0);
}
const tls = args.some((a) => a.startsWith('--tls-cert')) || process.env.PARLEY_TLS_CERT !== undefined;
console.log(`Parley web client: ${tls ? 'https' : 'http'}://localhost:${port}/  (the server serves it; Ctrl-C stops)`);
const server = spawn(process.execPath, ['dist/server/main.js', ...args], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => server.kill(sig));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
