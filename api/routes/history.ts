import { Router } from 'express';
import { formatValue } from '../../domain/values';
import type { AppContext } from '../context';
import { badRequest } from '../problem';
import { parseAfter, parseLimit, parseVersionParam, pathParam } from '../request-meta';
import { onlyQuery } from '../schemas';
import { jsonPageText, namedValueOf, rawPageJson } from '../views';
import { streamFeed } from '../sse';

export function historyRoutes(ctx: AppContext): Router {
  const r = Router();

  r.get('/v1/cpus/:id/events', async (req, res) => {
    const q = onlyQuery(req.query, ['after', 'limit']);
    const page = await ctx.service.queries.historyRaw(pathParam(req, 'id'), parseAfter(q.after), parseLimit(q.limit));
    res.type('application/json').send(rawPageJson(page.events, page.more ? page.last : null));
  });

  r.get('/v1/cpus/:id/diff', async (req, res) => {
    const q = onlyQuery(req.query, ['from', 'to']);
    const from = parseVersionParam(q.from, 'from');
    if (from === undefined) throw badRequest('from is required');
    const d = await ctx.service.queries.diff(pathParam(req, 'id'), from, parseVersionParam(q.to, 'to'));
    const changes = d.changes.map((c) => ({
      ...namedValueOf(d.state, c.id),
      before: c.before === null ? null : formatValue(c.id, c.before),
      after: c.after === null ? null : formatValue(c.id, c.after),
    }));
    res.json({ from, to: d.to, changes });
  });

  // The global feed; Server-Sent Events when asked for text/event-stream.
  r.get('/v1/events', async (req, res) => {
    const q = onlyQuery(req.query, ['after', 'limit']);
    if (
      req.accepts(['application/json', 'text/event-stream']) === 'text/event-stream' &&
      /text\/event-stream/.test(req.get('accept') ?? '')
    ) {
      const lastId = req.get('last-event-id');
      const after = lastId !== undefined && /^\d{1,15}$/.test(lastId) ? Number(lastId) : parseAfter(q.after);
      return streamFeed(ctx, req, res, after, { stallMs: ctx.limits.sseStallMs });
    }
    const page = await ctx.service.queries.feedJson(parseAfter(q.after), parseLimit(q.limit));
    res.type('application/json').send(jsonPageText(page.events, page.more ? page.last : null));
  });

  return r;
}
