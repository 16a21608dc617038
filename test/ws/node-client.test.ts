// Interop with an independent implementation: Node's own WebSocket client (undici), in a child process
// (`--experimental-websocket` on Node 20, global on 22+), against the chat server and the echo server.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { startEcho } from '../helpers/ws-client.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const WS_FLAGS = NODE_MAJOR < 22 ? ['--experimental-websocket'] : [];

/** Runs `script` (an ES module body; the URL is in env WS_URL) in a child node; resolves with its stdout lines. */
function runNodeClient(script: string, url: string, onLine: (line: string) => void = () => {}): Promise<string[]> {
  const proc = spawn(process.execPath, [...WS_FLAGS, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WS_URL: url },
  });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      onLine(line);
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill();
      reject(new Error(`node client timed out; stdout ${JSON.stringify(lines)} stderr ${err}`));
    }, 15_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(lines);
      else reject(new Error(`node client exited ${code}; stdout ${JSON.stringify(lines)} stderr ${err}`));
    });
  });
}

const CHAT_CLIENT = `
const ws = new WebSocket(process.env.WS_URL);
const out = (o) => console.log(JSON.stringify(o));
ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', name: 'nodey', protocol: 1 }));
ws.onmessage = (ev) => {
  const e = JSON.parse(ev.data);
  out(e);
  if (e.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room: 'interop', id: 'j' }));
  if (e.type === 'members') ws.send(JSON.stringify({ type: 'say', room: 'interop', text: 'from node ws' }));
  if (e.type === 'message' && e.from === 'tcpcarl') ws.close(1000, 'done');
};
ws.onclose = (ev) => { out({ type: 'closed', code: ev.code }); process.exit(0); };
ws.onerror = () => { out({ type: 'ws-error' }); process.exit(1); };
`;

const ECHO_CLIENT = `
const ws = new WebSocket(process.env.WS_URL);
ws.binaryType = 'arraybuffer';
const out = (o) => console.log(JSON.stringify(o));
const big = 'x'.repeat(100000);
ws.onopen = () => { out({ ext: ws.extensions }); ws.send('text ✓'); ws.send(new Uint8Array([1, 2, 3, 250])); ws.send(big); };
let n = 0;
ws.onmessage = (ev) => {
  if (typeof ev.data === 'string') out({ text: ev.data.length > 100 ? 'big:' + (ev.data === big) : ev.data });
  else out({ binary: [...new Uint8Array(ev.data)] });
  if (++n === 3) ws.close(1000);
};
ws.onclose = (ev) => { out({ closed: ev.code }); process.exit(0); };
ws.onerror = () => { out({ error: true }); process.exit(1); };
`;

describe("interop with Node's WebSocket client", () => {
  let server: RunningServer;
  let tcp: TcpClient;
  beforeAll(async () => {
    server = await startServer(['--log-level', 'warn']);
    tcp = await helloTcp(server.tcpPort, 'tcpcarl');
    tcp.send({ type: 'join', room: 'interop', id: 'j' });
    await tcp.next((e) => e.type === 'members');
  });
  afterAll(async () => {
    tcp?.close();
    await server?.stop();
  });

  it('chats with a TCP client in one room through the hub, then closes 1000', async () => {
    const lines = await runNodeClient(CHAT_CLIENT, `ws://127.0.0.1:${server.httpPort}/ws`, (line) => {
      const e = JSON.parse(line) as { type: string; text?: string };
      // Answer once the node client's message has reached the TCP side.
      if (e.type === 'message' && e.text === 'from node ws') tcp.send({ type: 'say', room: 'interop', text: 'from tcp' });
    });
    expect(await tcp.next((e) => e.type === 'message' && e.from === 'nodey')).toMatchObject({ text: 'from node ws' });
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events[0]).toMatchObject({ type: 'welcome', name: 'nodey' });
    expect(events).toContainEqual(expect.objectContaining({ type: 'message', from: 'tcpcarl', text: 'from tcp' }));
    expect(events.at(-1)).toEqual({ type: 'closed', code: 1000 });
  });

  it('talks to the echo server: text, binary and a 100 kB message', async () => {
    const echo = await startEcho();
    try {
      const lines = await runNodeClient(ECHO_CLIENT, `ws://127.0.0.1:${echo.port}/`);
      const got = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(got.slice(1)).toEqual([{ text: 'text ✓' }, { binary: [1, 2, 3, 250] }, { text: 'big:true' }, { closed: 1000 }]);
    } finally {
      echo.proc.kill();
    }
  });
});
