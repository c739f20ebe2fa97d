import type { Request, Response } from 'express';
import { deserializeEvent, type VcpuCommand, type VcpuEvent, type VcpuState } from '../domain/vcpu';
import type { StoredEvent } from '../storage/event-store';
import type { AppContext } from './context';
import { HttpProblem } from './problem';
import { etagOf, idempotencyOf, ifMatchVersion, metadataOf } from './request-meta';

/** What a write route answers, made from the events it recorded and the state they produced. */
export interface Rendered {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
export type Render = (id: string, events: VcpuEvent[], state: VcpuState, version: number) => Rendered;

export const domainEvents = (events: readonly StoredEvent[]): VcpuEvent[] =>
  events.map((e) => deserializeEvent(e.type, e.schemaVersion, e.data));

/**
 * Runs a command for a write route: Idempotency-Key (a repeat answers the original result from
 * the events it recorded), If-Match (412 when stale), metadata, then the answer with its ETag.
 */
export async function runCommand(
  ctx: AppContext,
  req: Request,
  res: Response,
  id: string,
  command: VcpuCommand,
  render: Render,
): Promise<void> {
  const idempotency = idempotencyOf(req);
  const expectedVersion = ifMatchVersion(req);
  const metadata = metadataOf(req, res);
  if (idempotency) {
    const replay = await replayIfSeen(ctx, idempotency.key, idempotency.requestHash, render);
    if (replay) return send(res, replay, true);
  }
  const out = await ctx.repo.execute(id, command, { expectedVersion, idempotency, metadata });
  // replayed: a concurrent request with the same key won the race; out holds what it recorded.
  send(res, render(id, domainEvents(out.events), out.state, out.version), out.replayed);
}

async function replayIfSeen(
  ctx: AppContext,
  key: string,
  requestHash: string,
  render: Render,
): Promise<Rendered | undefined> {
  const record = await ctx.store.findIdempotency(key);
  if (!record) return undefined;
  if (record.requestHash !== requestHash) {
    throw new HttpProblem(
      422,
      'idempotency-key-reused',
      'Idempotency key reused',
      `Idempotency-Key ${JSON.stringify(key)} was already used for a different request`,
    );
  }
  await ctx.store.whenDurable(); // the original may be committed but its sync still in flight
  const events = await ctx.store.readStream(record.streamId, record.fromVersion, record.toVersion);
  const after = await ctx.repo.load(record.streamId, record.toVersion);
  if (!after) throw new Error(`idempotency record for ${record.streamId} points at a missing stream`);
  return render(record.streamId, domainEvents(events), after.state, after.version);
}

function send(res: Response, r: Rendered, replayed: boolean): void {
  res.status(r.status);
  for (const [k, v] of Object.entries(r.headers ?? {})) res.set(k, v);
  if (replayed) res.set('Idempotent-Replayed', 'true');
  res.json(r.body);
}

export const withEtag = (version: number, extra: Record<string, string> = {}) => ({ ETag: etagOf(version), ...extra });
