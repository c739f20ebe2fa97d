/**
 * The part of an audit the chain walk cannot do: what reads serve besides the events. Snapshots
 * (a cache a read may start from) and the listing's labels are rows a writer of the database can
 * change without touching the log; here every stream of each aggregate is folded from its first
 * event and compared with them (app/states.ts auditStream).
 */
import type { EventStore } from '../storage/event-store';

export interface DerivedProblem {
  streamId: string;
  version: number;
  /** history: the stream's events do not fold at all (the chain walk says where, if they were edited). */
  what: 'snapshot' | 'labels' | 'history';
  detail: string;
}

export interface DerivedReport {
  ok: boolean;
  streams: number;
  snapshots: number;
  /** The first problems found (at most 100). */
  problems: DerivedProblem[];
}

/** What derived-check needs of an aggregate's States. */
export interface Auditable {
  readonly aggregate: { readonly kind: string };
  auditStream(
    id: string,
    head: number,
    snapshots: Awaited<ReturnType<EventStore['snapshotRows']>>,
    labels: Record<string, string>,
  ): Promise<Array<{ version: number; what: 'snapshot' | 'labels'; detail: string }>>;
}

const MAX_PROBLEMS = 100;

export async function checkDerived(store: EventStore, aggregates: readonly Auditable[]): Promise<DerivedReport> {
  const problems: DerivedProblem[] = [];
  let streams = 0;
  let snapshots = 0;
  for (const states of aggregates) {
    let after: string | undefined;
    do {
      const page = await store.listStreams({
        ...(after === undefined ? {} : { after }),
        limit: 500,
        kind: states.aggregate.kind,
      });
      for (const s of page.streams) {
        const rows = await store.snapshotRows(s.streamId);
        // the log's head, not the row's: a lowered streams.version is the walk's to report
        const head = await store.streamVersion(s.streamId);
        let found: Array<Omit<DerivedProblem, 'streamId'>>;
        try {
          found = await states.auditStream(s.streamId, head, rows, s.labels);
        } catch (e) {
          found = [{ version: head, what: 'history', detail: e instanceof Error ? e.message : String(e) }];
        }
        for (const p of found) if (problems.length < MAX_PROBLEMS) problems.push({ streamId: s.streamId, ...p });
        streams++;
        snapshots += rows.length;
      }
      await new Promise((r) => setImmediate(r)); // a long audit lets the service answer between pages
      after = page.next;
    } while (after);
  }
  return { ok: problems.length === 0, streams, snapshots, problems };
}
