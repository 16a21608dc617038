// `parley-server accounts ... --redis URL`: the operator's account tools on a running cluster's Redis.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_JS, type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, node } from './cluster-helpers.js';
import { skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const run = promisify(execFile);
const skip = skipWithoutRedis('accounts CLI on Redis');

describe.skipIf(skip)('parley-server accounts --redis', () => {
  let redis: TestRedis;
  let server: RunningServer;
  const open: TcpClient[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    server = await node(redis.url);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await server?.stop();
    await redis?.kill();
  });

  const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [SERVER_JS, 'accounts', ...args, '--redis', redis.url])).stdout;

  it('lists, resets a password (old tokens revoked) and deletes accounts the running nodes use', async () => {
    const zed = await accountTcp(server.tcpPort, 'zed');
    open.push(zed);
    expect(await cli('list')).toMatch(/^zed\tregistered .*\n1 account\(s\)\n$/);
    const reset = await cli('reset-password', 'zed');
    const password = /new password for zed: (\S+)/.exec(reset)![1]!;
    const login = await connectTcp(server.tcpPort);
    open.push(login);
    expect((await ask(login, { type: 'hello', name: 'zed', password })).type).toBe('welcome');
    const token = zed.events.find((e) => e.re === 'register')?.token;
    const old = await connectTcp(server.tcpPort);
    open.push(old);
    expect((await ask(old, { type: 'hello', name: 'zed', token })).code).toBe('bad_credentials');
    expect(await cli('delete', 'zed')).toBe('deleted zed\n');
    expect(await cli('list')).toBe('0 account(s)\n');
    await expect(cli('delete', 'zed')).rejects.toThrow(/no account called zed/);
  });
});
