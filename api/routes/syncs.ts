import { Router } from 'express';
import { formatRegId } from '../../domain/regid';
import { runCommand, withEtag, type Render } from '../command';
import type { AppContext } from '../context';
import { pathParam } from '../request-meta';
import { jsonBody, requireJson } from '../bodies';
import { assignments, regRef } from '../reg-refs';
import { onlyQuery, parseBody, syncBody } from '../schemas';
import { namedValues } from '../views';
import type { RegisteredEvent } from './event-types';
import type { components } from '../generated/openapi';

const syncResult: Render = ({ streamId: id, events, state, version }) => {
  const e = events[0]!; // a sync decides exactly one event
  const body: components['schemas']['SyncResult'] =
    e.type === 'SyncedFromAccelerator'
      ? {
          id,
          version,
          direction: 'from-accelerator',
          read: namedValues(e.read, state),
          failed: e.failed.map(formatRegId),
        }
      : {
          id,
          version,
          direction: 'to-accelerator',
          level: (e as RegisteredEvent<'SyncedToAccelerator'>).level,
          write: namedValues((e as RegisteredEvent<'SyncedToAccelerator'>).written, state),
        };
  return { status: 200, body, headers: withEtag(version) };
};

export function syncRoutes(ctx: AppContext): Router {
  const r = Router();
  r.post('/v1/cpus/:id/syncs', requireJson, jsonBody, async (req, res) => {
    onlyQuery(req.query, []);
    const body = parseBody(syncBody, req.body);
    const command =
      body.direction === 'from-accelerator'
        ? {
            type: 'SyncFromAccelerator' as const,
            values: assignments(body.values),
            failed: (body.failed ?? []).map(regRef),
          }
        : { type: 'SyncToAccelerator' as const, level: body.level };
    await runCommand(ctx, req, res, pathParam(req, 'id'), command, syncResult);
  });
  return r;
}
