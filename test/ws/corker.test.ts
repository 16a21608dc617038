// The corker is what turns a fan-out into one writev per socket per turn; these tests pin that down on
// real loopback sockets, and that a turn's own bytes are counted as unsent while they wait.
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { corkUntilNextTurn } from '../../server/ws/corker.js';

/** Waits poll for state; generous because the test machine is shared and often loaded. */
const WAIT = { timeout: 5000, interval: 10 };

let server: Server;
let client: Socket;
let accepted: Socket;

beforeEach(async () => {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const acceptedP = once(server, 'connection');
  client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  [accepted] = (await acceptedP) as [Socket];
});

afterEach(async () => {
  client.destroy();
  accepted.destroy();
  await new Promise((r) => server.close(r));
});

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('corkUntilNextTurn', () => {
  it('sends what one turn wrote to a socket as one writev, on the next turn', async () => {
    const writev = vi.spyOn(accepted as unknown as { _writev: (...a: unknown[]) => void }, '_writev');
    const write = vi.spyOn(accepted as unknown as { _write: (...a: unknown[]) => void }, '_write');
    for (const part of ['a', 'b', 'c']) {
      corkUntilNextTurn(accepted);
      accepted.write(part);
    }
    expect(writev).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();
    expect(accepted.writableLength).toBe(3);
    await nextTurn();
    expect(writev).toHaveBeenCalledTimes(1);
    expect((writev.mock.calls[0]![0] as unknown[]).length).toBe(3);
    expect(write).not.toHaveBeenCalled();
    let got = '';
    client.on('data', (d: Buffer) => (got += d.toString()));
    await vi.waitFor(() => expect(got).toBe('abc'), WAIT);
  });

  it('corks again on every later turn, and many sockets flush in the same turn', async () => {
    const other = connect((server.address() as { port: number }).port, '127.0.0.1');
    const [otherAccepted] = (await once(server, 'connection')) as [Socket];
    try {
      for (let t = 0; t < 3; t++) {
        for (const s of [accepted, otherAccepted]) {
          corkUntilNextTurn(s);
          s.write(`${t}`);
          corkUntilNextTurn(s);
          s.write(`${t}`);
        }
        expect(accepted.writableCorked).toBe(1);
        expect(otherAccepted.writableCorked).toBe(1);
        await nextTurn();
        expect(accepted.writableCorked).toBe(0);
        expect(otherAccepted.writableCorked).toBe(0);
      }
      let got = '';
      other.on('data', (d: Buffer) => (got += d.toString()));
      await vi.waitFor(() => expect(got).toBe('001122'), WAIT);
    } finally {
      other.destroy();
      otherAccepted.destroy();
    }
  });

  it("counts this turn's corked bytes in writableLength, which the slow-consumer bound is judged on", async () => {
    corkUntilNextTurn(accepted);
    accepted.write(Buffer.alloc(1000));
    corkUntilNextTurn(accepted);
    accepted.write(Buffer.alloc(500));
    expect(accepted.writableLength).toBe(1500);
    await vi.waitFor(() => expect(accepted.writableLength).toBe(0), WAIT);
  });

  it('tolerates a socket destroyed while corked', async () => {
    corkUntilNextTurn(accepted);
    accepted.write('x');
    accepted.destroy();
    await nextTurn();
    expect(accepted.destroyed).toBe(true);
  });
});
