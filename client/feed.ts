/**
 * The global feed as Server-Sent Events (`GET /v1/events`, `Accept: text/event-stream`), read
 * through the typed client with fetch (so a bearer token goes with it, which EventSource cannot
 * do) and resumed after a dropped connection with `Last-Event-ID`: the server's `id` is the
 * event's global position, so a resume neither repeats nor skips an event.
 */
import type { Client } from 'openapi-fetch';
import type { components, paths } from '../api/generated/openapi';
import { problemError, ProblemError } from './problem';

type CpregEvent = components['schemas']['Event'];

export interface FollowOptions {
  /** Start after this global position (default 0: every event). */
  after?: number;
  /** Stops the feed (the iterator ends without an error). */
  signal?: AbortSignal;
  /** Consecutive failed connections before giving up with the last error (default 10). */
  retries?: number;
  /** First wait before a reconnection, doubled each failure up to `maxDelayMs` (default 250, 5000). */
  delayMs?: number;
  maxDelayMs?: number;
  /** Called before each reconnection with the position it resumes after and the reason. */
  onReconnect?: (after: number, reason: unknown) => void;
}

/** One SSE message: the fields of one block of lines ended by a blank line. */
interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Splits an SSE byte stream into messages (comments and retry fields are dropped). */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let msg: SseMessage = { data: '' };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (hasData) yield msg;
          msg = { data: '' };
          hasData = false;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') {
          msg.data = hasData ? `${msg.data}\n${value}` : value;
          hasData = true;
        } else if (field === 'id') msg.id = value;
        else if (field === 'event') msg.event = value;
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Every event after `after`, as it is committed, forever (until `signal` aborts). A dropped
 * connection is reopened with `Last-Event-ID` set to the last position seen; a refusal that
 * retrying cannot cure (400, 401, 403, 404) is thrown at once, and so is the last failure after
 * `retries` consecutive ones.
 */
export async function* followFeed(
  api: Client<paths, 'application/json'>,
  o: FollowOptions = {},
): AsyncGenerator<CpregEvent> {
  let position = o.after ?? 0;
  const retries = o.retries ?? 10;
  const first = o.delayMs ?? 250;
  const max = o.maxDelayMs ?? 5000;
  let failures = 0;
  for (;;) {
    if (o.signal?.aborted) return;
    let reason: unknown;
    let wait = Math.min(max, first * 2 ** Math.max(0, failures - 1));
    try {
      const r = await api.GET('/v1/events', {
        params: { query: { after: position } },
        headers: { accept: 'text/event-stream', 'last-event-id': String(position) },
        parseAs: 'stream',
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (!r.response.ok || !r.data) {
        const e = problemError(r.response, r.error);
        if (r.response.status !== 503 && r.response.status < 500) throw e;
        const retryAfter = Number(r.response.headers.get('retry-after'));
        if (retryAfter > 0) wait = Math.min(60_000, retryAfter * 1000);
        reason = e;
      } else {
        for await (const m of sseMessages(r.data)) {
          if (!m.data) continue;
          const event = JSON.parse(m.data) as CpregEvent;
          position = m.id !== undefined && /^\d+$/.test(m.id) ? Number(m.id) : event.position;
          failures = 0;
          yield event;
        }
        reason = new Error('the server ended the feed');
      }
    } catch (e) {
      if (o.signal?.aborted) return;
      if (e instanceof ProblemError) throw e;
      reason = e;
    }
    failures++;
    if (failures > retries) throw reason;
    o.onReconnect?.(position, reason);
    await sleep(wait, o.signal);
  }
}
