import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer, type RunningServer } from '../../api/server';

/** /metrics parses by Prometheus' text format rules, and its counters move with traffic. */

let server: RunningServer;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-metrics-'));
  server = await startServer({ ...configFromEnv({}), port: 0, dbPath: path.join(dir, 'c.db') }, createLogger('silent'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text exposition format (version 0.0.4): it throws on anything else. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3]!)) throw new Error(`bad TYPE: ${line}`);
        if (typed.has(m[2]!)) throw new Error(`TYPE twice: ${line}`);
        typed.set(m[2]!, m[3]!);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]?[Ii][Nn][Ff])( -?\d+)?$/.exec(line); // values as Go's ParseFloat reads them
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let k: RegExpExecArray | null;
      while (re.lastIndex < m[3].length && (k = re.exec(m[3]))) labels[k[1]!] = k[2]!;
      if (re.lastIndex !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return samples;
}

const value = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .reduce((n, x) => n + x.value, 0);

test('the exposition parses, and counters move with traffic', async () => {
  const api = () => request(server.url);
  const before = parseExposition((await api().get('/metrics')).text);
  await api()
    .post('/v1/cpus')
    .set('content-type', 'application/json')
    .send({ id: 'm1', accelerator: 'tcg', registers: ['0x603000000013de82'] });
  for (let k = 0; k < 3; k++) {
    await api()
      .put('/v1/cpus/m1/registers/TPIDR_EL0')
      .set('content-type', 'application/json')
      .send({ value: `0x${k + 1}` });
  }
  await api().get('/v1/cpus/nope');
  await api().get('/v1/cpus/m1');
  const stream = zlib.gunzipSync(
    fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu/aarch64-cortex-a57.mig.gz')),
  );
  await api().post('/v1/qemu-streams/inspect').set('content-type', 'application/octet-stream').send(stream);
  const res = await api().get('/metrics');
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const after = parseExposition(res.text);
  const route = { route: '/v1/cpus/:id/registers/:reg', method: 'PUT', status: '200' };
  expect(value(after, 'cpreg_http_requests_total', route) - value(before, 'cpreg_http_requests_total', route)).toBe(3);
  expect(value(after, 'cpreg_http_requests_total', { route: '/v1/cpus/:id', status: '404' })).toBe(1);
  expect(value(after, 'cpreg_events_appended_total') - value(before, 'cpreg_events_appended_total')).toBe(4);
  expect(value(after, 'cpreg_group_commit_batch_size_count')).toBeGreaterThanOrEqual(4);
  expect(value(after, 'cpreg_wal_sync_seconds_count')).toBeGreaterThanOrEqual(4);
  expect(value(after, 'cpreg_http_request_duration_seconds_count', { route: '/v1/cpus/:id/registers/:reg' })).toBe(3);
  expect(value(after, 'cpreg_stream_bytes_total')).toBeGreaterThanOrEqual(stream.length);
  expect(value(after, 'cpreg_state_cache_total', { result: 'hit' })).toBeGreaterThan(0);
  expect(after.some((x) => x.name === 'cpreg_sse_clients')).toBe(true);
  expect(after.some((x) => x.name === 'cpreg_process_resident_memory_bytes')).toBe(true);
});
