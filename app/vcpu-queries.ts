import { readValueAt } from '../domain/cpreg-arrays';
import { diffStates, type RegisterChange, type VcpuState } from '../domain/vcpu';
import type { EventStore, FeedPage, RawEvent, RawPage, StoredEvent, VerifyReport } from '../storage/event-store';
import { eventJsonText, jsonPageOf, type JsonEvent, type JsonPage } from '../storage/event-json';
import { NotFoundError } from './errors';
import { allPages } from './pages';
import { vcpuIdOf } from './vm-import';
import type { VcpuStates } from './vcpu-aggregate';

export interface VcpuAt {
  id: string;
  version: number;
  state: VcpuState;
}

export interface VcpuPage {
  items: VcpuAt[];
  next?: string;
}

export interface HistoryPage {
  events: StoredEvent[];
  /** Pass as `after` for the next page; null on the last one. */
  next: number | null;
}

export interface Diff {
  from: number;
  to: number;
  state: VcpuState;
  changes: RegisterChange[];
}

/** The most event text one page carries (at least one event): answers stay bounded. */
export const PAGE_BYTES = 4 * 1024 * 1024;

/** Reads: never decide, never write (a snapshot rebuilt while loading is a cache). */
export class VcpuQueries {
  constructor(
    private readonly store: EventStore,
    private readonly states: VcpuStates,
  ) {}

  /** The vCPU now, or at `version`; NotFoundError when the vCPU or that version does not exist. */
  async get(id: string, version?: number): Promise<VcpuAt> {
    const loaded = await this.states.load(id, version);
    if (loaded) return { id, version: loaded.version, state: loaded.state };
    const current = version === undefined ? 0 : await this.store.streamVersion(id);
    if (current === 0) throw new NotFoundError('vcpu-not-found', `no vCPU ${JSON.stringify(id)}`);
    throw new NotFoundError(
      'version-not-found',
      `vCPU ${id} has no version ${version} (its current version is ${current})`,
    );
  }

  /** Whether the vCPU's event at `version` records an export of this very blob. */
  async lastIsExportOf(id: string, version: number, format: string, sha256: string): Promise<boolean> {
    const [e] = await this.store.readStream(id, version, version, 1);
    if (!e || e.type !== 'BlobExported') return false;
    const d = e.data as { format?: unknown; sha256?: unknown };
    return d.format === format && d.sha256 === sha256;
  }

  /** The vCPUs of a VM now, by cpu index (`<vm>.cpu0`, `.cpu1`, … up to the first missing). */
  async vmStates(vm: string): Promise<Map<number, { id: string; state: VcpuState }>> {
    const out = new Map<number, { id: string; state: VcpuState }>();
    for (let n = 0; ; n++) {
      const id = vcpuIdOf(vm, n);
      const loaded = await this.states.load(id);
      if (!loaded) return out;
      out.set(n, { id, state: loaded.state });
    }
  }

  /** The vCPU's current version, 0 when it does not exist. */
  version(id: string): Promise<number> {
    return this.store.streamVersion(id);
  }

  async list(q: { labels: Record<string, string>; after?: string; limit: number }): Promise<VcpuPage> {
    const page = await this.store.listStreams(q);
    const items: VcpuAt[] = [];
    for (const s of page.streams) {
      const loaded = await this.states.load(s.streamId);
      // the label index is a row a writer of the database can edit: the events' labels decide
      if (loaded && Object.entries(q.labels).every(([k, v]) => loaded.state.labels[k] === v))
        items.push({ id: s.streamId, version: loaded.version, state: loaded.state });
    }
    return { items, ...(page.next === undefined ? {} : { next: page.next }) };
  }

  /** Every vCPU with these labels, in id order (page by page). */
  async all(labels: Record<string, string> = {}): Promise<VcpuAt[]> {
    return allPages((q) => this.list(q), labels);
  }

  /** Events of one vCPU with version > after. */
  async history(id: string, after: number, limit: number): Promise<HistoryPage> {
    const current = await this.store.streamVersion(id);
    if (current === 0) throw new NotFoundError('vcpu-not-found', `no vCPU ${JSON.stringify(id)}`);
    const events = await this.store.readStream(id, after + 1, undefined, limit);
    const last = events.length ? events[events.length - 1]!.version : after;
    return { events, next: last < current ? last : null };
  }

  /** Registers whose value differs between two versions (`from` 0: before the vCPU existed). */
  async diff(id: string, from: number, to?: number): Promise<Diff> {
    const b = await this.get(id, to);
    if (from === 0) {
      const a = b.state.arrays;
      const changes = Array.from(a.cpregIndexes, (rid, i) => ({ id: rid, before: null, after: readValueAt(a, i) }));
      return { from, to: b.version, state: b.state, changes };
    }
    const a = await this.get(id, from);
    return { from, to: b.version, state: b.state, changes: diffStates(a.state, b.state) };
  }

  /** The global feed: events with position > after. */
  feed(after: number, limit: number): Promise<FeedPage> {
    return this.store.readAll(after, limit);
  }

  /** The global feed as stored text, bounded by count and by PAGE_BYTES. */
  feedRaw(after: number, limit: number): Promise<RawPage> {
    return this.store.readFeedRaw(after, limit, PAGE_BYTES);
  }

  /** The global feed as JSON texts (composed by the store when it can), bounded likewise. */
  async feedJson(after: number, limit: number): Promise<JsonPage> {
    if (this.store.readFeedJson) return this.store.readFeedJson(after, limit, PAGE_BYTES);
    const p = await this.store.readFeedRaw(after, limit, PAGE_BYTES);
    return jsonPageOf(p.events, p.last, p.more);
  }

  /** One vCPU's events with version > after, as stored text, bounded by count and by PAGE_BYTES. */
  async historyRaw(id: string, after: number, limit: number): Promise<RawPage> {
    const current = await this.store.streamVersion(id);
    if (current === 0) throw new NotFoundError('vcpu-not-found', `no vCPU ${JSON.stringify(id)}`);
    return this.store.readStreamRaw(id, after, limit, PAGE_BYTES);
  }

  /** Calls `listener` after each durable commit of this service. */
  onCommit(listener: () => void): () => void {
    return this.store.onCommit(listener);
  }

  verify(): Promise<VerifyReport> {
    return this.store.verify();
  }
}

export type { JsonEvent, JsonPage, RawEvent, StoredEvent };
export { eventJsonText };
