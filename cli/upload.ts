/**
 * Streaming a multi-GB file to the service and its answer back (import, rewrite): node:http with
 * the file piped as the body (Content-Length set, so the server can refuse an oversized stream at
 * once), back-pressure both ways, and an answer cut short by the server (a refusal found at the
 * end of a large rewrite) reported as such. fetch cannot do all of that with a progress bar, so
 * the stream commands use this and the typed client for everything else.
 */
import * as fs from 'fs';
import type * as http from 'http';
import { problemLine } from '../client/problem';
import { CliError, connectionError, UsageError } from './errors';
import type { Globals } from './context';
import { fileSize } from './inspect-file';
import { startProgress } from './progress';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Bytes of the answer (to the sink, or collected). */
  received: number;
  /** Bytes of the request body sent. */
  sent: number;
}

async function requestOptions(
  g: Globals,
  method: string,
  path: string,
  headers: Record<string, string | number>,
): Promise<{ mod: typeof http; opts: http.RequestOptions }> {
  let url: URL;
  try {
    url = new URL(path, g.url.endsWith('/') ? g.url : g.url + '/');
  } catch {
    throw new UsageError(`--url ${JSON.stringify(g.url)} is not a URL`);
  }
  const h: Record<string, string | number> = { ...headers };
  if (g.token) h.authorization = `Bearer ${g.token}`;
  return {
    // loaded on demand: `cpreg inspect` never needs them, and starts faster without them
    mod: url.protocol === 'https:' ? ((await import('https')) as unknown as typeof http) : await import('http'),
    opts: {
      method,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: url.pathname + url.search,
      headers: h,
    },
  };
}

/**
 * POSTs FILE (or stdin for `-`, chunked) as the body. A 200 answer's body goes to `sink` when given
 * (else it is collected); any other answer is collected for the error message.
 */
export async function postFile(
  g: Globals,
  path: string,
  file: string,
  label: string,
  sink?: NodeJS.WritableStream,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const size = file === '-' ? undefined : fileSize(file);
  const { mod, opts } = await requestOptions(g, 'POST', path, {
    'content-type': 'application/octet-stream',
    ...(size === undefined ? {} : { 'content-length': size }),
    accept: 'application/json, application/octet-stream',
    ...headers,
  });
  const progress = await startProgress(size ?? 0, label, size === undefined ? 'off' : g.progress);
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      progress.done();
      reject(e);
    };
    let answered = false;
    const input: NodeJS.ReadableStream & { destroy?: () => void } =
      file === '-' ? process.stdin : fs.createReadStream(file, { highWaterMark: 1024 * 1024 });
    let sent = 0;
    const req = mod.request(opts, (res) => {
      const status = res.statusCode ?? 0;
      answered = true;
      if (status !== 200) {
        // A refusal can come before the upload is done: stop sending, read the problem.
        input.unpipe(req);
        if (file !== '-') input.destroy?.();
      }
      const parts: Buffer[] = [];
      let received = 0;
      const toSink = status === 200 && sink !== undefined;
      res.on('data', (d: Buffer) => {
        received += d.length;
        if (toSink) {
          if (!sink!.write(d)) {
            res.pause();
            sink!.once('drain', () => res.resume());
          }
        } else parts.push(d);
      });
      const requestId = () => res.headers['x-request-id'] ?? '?';
      res.on('aborted', () =>
        fail(
          new CliError(
            `the server aborted the answer after ${received} bytes (request id ${requestId()}; its log has the reason)`,
          ),
        ),
      );
      res.on('error', (e) =>
        fail(
          new CliError(
            `the server aborted the answer after ${received} bytes (${e.message}; request id ${requestId()}; its log has the reason)`,
          ),
        ),
      );
      res.on('end', () => {
        if (settled) return;
        settled = true;
        progress.done();
        if (status !== 200) req.destroy();
        resolve({ status, headers: res.headers, body: Buffer.concat(parts), received, sent });
      });
    });
    // Once an answer has come, a failed write (the server closed after refusing) is not the story.
    req.on('error', (e) => {
      if (!answered) fail(connectionError(g.url, e));
    });
    input.on('data', (d: Buffer) => {
      sent += d.length;
      progress.update(sent);
    });
    input.on('error', (e: Error) => {
      req.destroy();
      fail(new CliError(`${file}: ${e.message}`));
    });
    input.pipe(req);
  });
}

/** One problem+json (or any error answer) as one line. */
export function answerLine(a: { status: number; body: Buffer }): string {
  const text = a.body.toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return problemLine(a.status, body);
}
