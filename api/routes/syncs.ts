import { Router } from 'express';
import { holdsValueAt, indexesIn } from '../../domain/cpreg-arrays';
import { formatRegId } from '../../domain/regid';
import type { RegValues, VcpuCommand, VcpuState } from '../../domain/vcpu';
import { runCommand, withEtag, type Render, type Rendered } from '../command';
import type { VcpuDecided } from '../../app/vcpu-aggregate';
import type { AppContext } from '../context';
import { pathParam } from '../request-meta';
import { jsonFromText, jsonTextBody, requireJson } from '../bodies';
import { quickSyncFrom, quickSyncFromText } from '../sync-quick';
import { assignments, regRef } from '../reg-refs';
import { onlyQuery, parseBody, syncBody } from '../schemas';
import { ByteWriter, utf8Text } from '../byte-writer';
import { namedValues, writeNamedValues } from '../views';
import type { RegisteredEvent } from './event-types';
import type { components } from '../generated/openapi';

/**
 * A sync from the accelerator answers what it changed, how many values were reported and the
 * report's SHA-256 — not every value again (that is the caller's own report).
 */
export const syncResult: Render = (decided, last) => {
  const { bytes, ...rest } = syncResultBytes(decided, last);
  return bytes ? { ...rest, text: utf8Text(bytes) } : rest;
};

/**
 * syncResult's answer as its UTF-8 bytes: the fast lane writes them as they are; the app's route
 * takes their text (an answer kept with an Idempotency-Key is a text).
 */
export const syncResultBytes: Render = (decided, last) => {
  const from = fromAccelerator(decided);
  if (!from) return toAccelerator(decided);
  // room for the values named and the warnings' registers (at most 16 per rule) without growing
  const w = new ByteWriter(512 + 96 * from.changed.ids.length + (last ? 12_288 : 0));
  w.text(from.head);
  writeNamedValues(w, from.changed, decided.state);
  w.text(from.tail);
  if (last) {
    w.byte(0x2c); // ,
    last(w);
  }
  w.byte(0x7d); // }
  return { status: 200, bytes: w.done(), headers: withEtag(decided.version) };
};

/**
 * The text of a SyncResult {id, version, direction, changed, reported, reportSha256, failed[,
 * warnings]} from the accelerator around its `changed` list (open: the warnings and `}` follow),
 * and the values that list names.
 */
function fromAccelerator({
  streamId: id,
  events,
  before,
  version,
}: VcpuDecided): { head: string; changed: RegValues; tail: string } | undefined {
  const e = events[0]!; // a sync decides exactly one event
  if (e.type !== 'SyncedFromAccelerator') return undefined;
  return {
    head: `{"id":${JSON.stringify(id)},"version":${version},"direction":"from-accelerator","changed":`,
    changed: changedSince(before, e.changed, e.reported),
    tail:
      `,"reported":${e.reported},"reportSha256":${JSON.stringify(e.reportSha256)},` +
      `"failed":${JSON.stringify(e.failed.map(formatRegId))}`,
  };
}

function toAccelerator({ streamId: id, events, state, version }: VcpuDecided): Rendered {
  const to = events[0] as RegisteredEvent<'SyncedToAccelerator'>;
  const body: components['schemas']['SyncResult'] = {
    id,
    version,
    direction: 'to-accelerator',
    level: to.level,
    write: namedValues(to.written, state),
  };
  return { status: 200, body, headers: withEtag(version) };
}

/**
 * The values that differ from `before`. A decided event holds only those already; a schema-1
 * event read back (an answer made again for an old idempotency key) holds the whole report.
 */
export function changedSince(before: VcpuState | undefined, rv: RegValues, reported: number): RegValues {
  if (!before || rv.ids.length < reported) return rv;
  const a = before.arrays;
  const at = indexesIn(a, rv.ids);
  const same = (k: number) => {
    const i = at[k]!; // k < length; values is parallel to ids
    return i >= 0 && holdsValueAt(a, i, rv.values[k]!);
  };
  let k = 0;
  while (k < rv.ids.length && !same(k)) k++;
  if (k === rv.ids.length) return rv; // every value changed: the event's own set (its texts are made)
  const ids = rv.ids.slice(0, k);
  const values = rv.values.slice(0, k);
  for (k++; k < rv.ids.length; k++) {
    if (same(k)) continue;
    ids.push(rv.ids[k]!);
    values.push(rv.values[k]!);
  }
  return { ids, values };
}

export function syncRoutes(ctx: AppContext): Router {
  const r = Router();
  r.post('/v1/cpus/:id/syncs', requireJson, jsonTextBody, async (req, res) => {
    onlyQuery(req.query, []);
    const text = req.body as string | undefined;
    // A plain report is read from its text; anything else is parsed as JSON, as other routes do.
    let command: VcpuCommand | undefined = text === undefined ? undefined : quickSyncFromText(text);
    // An Idempotency-Key's digest covers the parsed body (api/request-meta.ts)
    if (!command || req.get('idempotency-key') !== undefined) req.body = jsonFromText(text);
    command ??= quickSyncFrom(req.body);
    if (!command) {
      const body = parseBody(syncBody, req.body);
      command =
        body.direction === 'from-accelerator'
          ? {
              type: 'SyncFromAccelerator' as const,
              values: assignments(body.values),
              failed: (body.failed ?? []).map(regRef),
            }
          : { type: 'SyncToAccelerator' as const, level: body.level };
    }
    await runCommand(ctx, req, res, pathParam(req, 'id'), command, syncResult);
  });
  return r;
}
