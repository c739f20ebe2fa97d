import type { Request, Response } from 'express';
import type { AppContext } from './context';
import { eventView } from './views';

const POLL_MS = 200;
const HEARTBEAT_MS = 15_000;
const BATCH = 500;

/**
 * The global feed as Server-Sent Events: `id` is the global position (so `Last-Event-ID`
 * resumes exactly), `event` the type, `data` the event JSON. New events are picked up by
 * polling the store, which also sees writes made by other processes.
 */
export function streamFeed(ctx: AppContext, req: Request, res: Response, after: number): void {
  res.status(200).set({
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.write(': cpreg-ledger feed\n\n');
  let position = after;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = Date.now();
  const close = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    res.end();
  };
  req.on('close', close);
  ctx.onShutdown(close);
  const pump = async () => {
    if (closed) return;
    try {
      for (;;) {
        const page = await ctx.service.queries.feed(position, BATCH);
        for (const e of page.events) {
          res.write(`id: ${e.position}\nevent: ${e.type}\ndata: ${JSON.stringify(eventView(e))}\n\n`);
          position = e.position;
          lastWrite = Date.now();
        }
        if (page.events.length < BATCH || closed) break;
      }
      if (Date.now() - lastWrite > HEARTBEAT_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
    } catch (e) {
      ctx.logger.error({ err: e }, 'feed stream failed');
      return close();
    }
    if (!closed) timer = setTimeout(pump, POLL_MS);
  };
  void pump();
}
