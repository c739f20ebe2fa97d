import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer } from '../../api/server';

// While the server shuts down every answer carries Connection: close. An answer the app sends at
// once (here a 404, pipelined behind a request still in flight) must get it too, without the
// listener that sets it writing a header after the headers are sent (an uncaught throw before).

test('an answer sent at once during shutdown closes its connection, and nothing throws', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-shutdown-'));
  const server = await startServer(
    { ...configFromEnv({}), port: 0, dbPath: path.join(dir, 'c.db'), shutdownGraceMs: 2000 },
    createLogger('silent'),
  );
  const port = Number(new URL(server.url).port);
  try {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let got = '';
    socket.on('data', (c) => (got += c.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // A: its body comes later, so the connection is busy when the shutdown starts
    socket.write('POST /v1/cpus HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{');
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.close();
    await new Promise((r) => setTimeout(r, 20));
    // the rest of A, and B pipelined behind it: B's 404 is answered at once
    socket.write('}GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    await stopping;
    const answers = got.split(/(?=HTTP\/1\.1 )/);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 400 /); // {} is not a vCPU (asked before the shutdown)
    expect(answers.slice(1).map((a) => /\r\nConnection: close\r\n/i.test(a))).toEqual([true]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
