// The floor: a chat server that does the least one can — parse a request, fan the same bytes out, ack —
// with none of Parley's checks, store, limits or liveness. Run under the same load tool, it shows how
// much of a measured latency belongs to the tool and the machine rather than to any server: a server
// cannot beat this one by much, so a target below it is below what this machine can show.
// Speaks just the subset the load tool uses, over TCP lines and WebSocket (small frames only).
import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';

interface Member { write(line: string, frame: Buffer | null): void }
const rooms = new Map<string, Set<Member>>();
const seqs = new Map<string, number>();

function wsFrame(payload: Buffer): Buffer {
  const head = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([head, payload]);
}

function handle(me: Member, line: string, joined: Set<string>): void {
  const m = JSON.parse(line) as { type: string; name?: string; room?: string; text?: string; id?: unknown };
  if (m.type === 'hello') me.write(`{"type":"welcome","protocol":1,"name":${JSON.stringify(m.name)}}`, null);
  else if (m.type === 'join' && m.room) {
    let r = rooms.get(m.room);
    if (!r) rooms.set(m.room, (r = new Set()));
    r.add(me);
    joined.add(m.room);
    me.write(`{"type":"members","room":${JSON.stringify(m.room)},"users":[],"re":${JSON.stringify(m.id ?? null)}}`, null);
  } else if (m.type === 'say' && m.room) {
    const seq = (seqs.get(m.room) ?? 0) + 1;
    seqs.set(m.room, seq);
    const out = `{"type":"message","room":${JSON.stringify(m.room)},"from":"x","text":${JSON.stringify(m.text)},"seq":${seq},"ts":"${new Date().toISOString()}"}`;
    const frame = wsFrame(Buffer.from(out));
    for (const o of rooms.get(m.room) ?? []) o.write(out, frame);
    me.write(`{"type":"ack","re":${JSON.stringify(m.id ?? null)},"seq":${seq}}`, null);
  }
}

function leaveAll(me: Member, joined: Set<string>): void {
  for (const r of joined) rooms.get(r)?.delete(me);
}

const tcp = createServer({ noDelay: true }, (s: Socket) => {
  const joined = new Set<string>();
  const me: Member = { write: (line) => void s.write(line + '\n') };
  let rest = '';
  s.on('data', (d: Buffer) => {
    const str = rest + d.toString();
    let start = 0;
    for (let nl = str.indexOf('\n'); nl >= 0; nl = str.indexOf('\n', start)) {
      handle(me, str.slice(start, nl), joined);
      start = nl + 1;
    }
    rest = str.slice(start);
  });
  s.on('error', () => {});
  s.on('close', () => leaveAll(me, joined));
});

const http = createHttpServer((_req, res) => res.writeHead(404).end());
http.on('upgrade', (req, socket: Socket, head: Buffer) => {
  const key = String(req.headers['sec-websocket-key'] ?? '');
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.setNoDelay(true);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const joined = new Set<string>();
  const me: Member = { write: (line, frame) => void socket.write(frame ?? wsFrame(Buffer.from(line))) };
  let buf: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1]! & 0x7f, at = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); at = 4; }
      if (buf.length < at + 4 + len) return;
      const mask = buf.subarray(at, at + 4), payload = Buffer.from(buf.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
      const op = buf[0]! & 0x0f;
      buf = buf.subarray(at + 4 + len);
      if (op === 1) handle(me, payload.toString(), joined);
      else if (op === 8) { socket.end(); return; }
    }
  };
  socket.on('data', onData);
  socket.on('error', () => {});
  socket.on('close', () => leaveAll(me, joined));
  if (head.length) onData(head);
});

tcp.listen(0, '127.0.0.1', () => {
  http.listen(0, '127.0.0.1', () => {
    const t = (tcp.address() as AddressInfo).port, h = (http.address() as AddressInfo).port;
    process.stderr.write(`parley listening tcp=127.0.0.1:${t} http=127.0.0.1:${h}\n`);
  });
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
