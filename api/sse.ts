import type { Request, Response } from 'express';
import type { AppContext } from './context';

const HEARTBEAT_MS = 15_000;
/** Writes by other processes wake no listener of ours: they are picked up this often. */
const FALLBACK_POLL_MS = 1_000;
const BATCH = 500;

export interface FeedLimits {
  /** How long a subscriber that does not read may hold its paused feed before it is dropped. */
  stallMs: number;
}

/**
 * The global feed as Server-Sent Events: `id` is the global position (so `Last-Event-ID`
 * resumes exactly), `event` the type, `data` the event JSON (the stored text, unparsed).
 * A commit of this service wakes the feed at once; writes of other processes are seen within
 * FALLBACK_POLL_MS. Back-pressure: when the socket's buffer is full the feed stops reading the
 * store until the client drains it, and a client that stays paused past `stallMs` is dropped,
 * so a subscriber costs at most one page of events, whatever it does.
 */
export function streamFeed(ctx: AppContext, req: Request, res: Response, after: number, limits: FeedLimits): void {
  res.status(200).set({
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let position = after;
  let closed = false;
  let pumping = false;
  let again = false;
  let lastWrite = Date.now();
  const timers = new Set<NodeJS.Timeout>();
  ctx.metrics.sseClients.inc();
  const close = () => {
    if (closed) return;
    closed = true;
    ctx.metrics.sseClients.dec();
    unsubscribe();
    for (const t of timers) clearInterval(t);
    res.end();
  };
  const drop = () => {
    if (closed) return;
    close();
    res.destroy();
  };
  /** Resolves true when the client drained the buffer, false when it went away or stalled. */
  const drained = () =>
    new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(stall);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const stall = setTimeout(() => done(false), limits.stallMs);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
  const write = async (text: string): Promise<boolean> => {
    lastWrite = Date.now();
    if (res.write(text)) return true;
    if (await drained()) return true;
    drop();
    return false;
  };
  const pump = async (): Promise<void> => {
    if (closed) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (;;) {
          const page = await ctx.service.queries.feedJson(position, BATCH);
          if (closed) return;
          const last = page.events.at(-1);
          if (last) {
            // one write per page (a socket write per event cost most of the feed's time); the
            // page is bounded by BATCH and by the store's page bytes, so back-pressure still holds
            let text = '';
            for (const e of page.events) text += `id: ${e.position}\nevent: ${e.type}\ndata: ${e.json}\n\n`;
            if (!(await write(text))) return;
            position = last.position;
          }
          if (!page.more || closed) break;
        }
      } while (again && !closed);
    } catch (e) {
      ctx.logger.error({ err: e }, 'feed stream failed');
      close();
    } finally {
      pumping = false;
    }
  };
  const unsubscribe = ctx.service.queries.onCommit(() => void pump());
  req.on('close', close);
  ctx.onShutdown(close);
  timers.add(setInterval(() => void pump(), FALLBACK_POLL_MS));
  timers.add(
    setInterval(() => {
      if (closed || pumping || Date.now() - lastWrite < HEARTBEAT_MS) return;
      void write(': keep-alive\n\n');
    }, HEARTBEAT_MS),
  );
  void write(': cpreg-ledger feed\n\n').then((ok) => (ok ? pump() : undefined));
}
