import type { Accelerator } from '../domain/accelerator';
import { CorruptHistoryError } from '../domain/vcpu';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  type AppendGroupResult,
  type EventStore,
  type IdempotencyRecord,
  type MetadataInput,
} from '../storage/event-store';
import { KeyedLock } from '../storage/keyed-lock';
import { conditionHolds, describeCondition, type VersionCondition } from './conditions';
import { PreconditionFailedError, QemuWouldRefuseError, refusing } from './errors';
import type { Finding } from './fleet';
import type { Entry, States } from './states';

/** One stream's part of a command. */
export interface Command<C, S> {
  streamId: string;
  /** The command, or how to choose it from the current state (undefined: nothing there yet). */
  command: C | ((before: S | undefined) => C);
  /** If-Match / If-None-Match on this vCPU's version. */
  condition?: VersionCondition;
  /** Name the vCPU in a refusal's message (one vCPU of a VM-level command). */
  named?: boolean;
}

/** What deciding a command on one vCPU gave: the events, and the state and version they lead to. */
export interface Decided<E, S> {
  streamId: string;
  before: S | undefined;
  state: S;
  version: number;
  events: readonly E[];
  /** What QEMU would make of the values written (the vCPU's own QEMU; app/vcpu-compatibility.ts). */
  warnings: readonly Finding[];
}

/** The warnings a command's events give on the vCPU's own QEMU (none for most aggregates). */
export type Advisor<E, S> = (before: S | undefined, events: readonly E[]) => Finding[];

export interface Idempotency {
  key: string;
  /** A digest of the request: the same key with another request is refused. */
  requestHash: string;
}

export interface ExecuteOptions<A, E, S> {
  metadata: MetadataInput;
  idempotency?: Idempotency;
  /**
   * The answer to the request, made from what was decided (JSON-safe). It is kept with the
   * idempotency key in the transaction that records the events, and a repeat gets it back.
   */
  answer: (decided: readonly Decided<E, S>[]) => A;
  /** RFC 7240 `Prefer: handling=strict`: a command that gives warnings is refused, nothing recorded. */
  strict?: boolean;
}

export interface Executed<A> {
  answer: A;
  /** A repeat of an idempotency key: nothing was decided or recorded now. */
  replayed: boolean;
}

interface Submitted<A> {
  answer: A;
  append?: Promise<AppendGroupResult>;
}

/**
 * The one owner of a write: the idempotency key looked up once before deciding (and enforced
 * once, by the store, inside the transaction), the vCPUs locked in id order, each condition
 * checked, the command decided on the current state (including appends of this process still
 * in flight), the events appended with the versions decided on, and a lost race with another
 * process re-decided on fresh state.
 */
export class CommandHandler<C, E, S> {
  private readonly lock = new KeyedLock();
  /** Requests in flight per idempotency key: a repeat waits for the first, then replays it. */
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly states: States<C, E, S>,
    private readonly maxRetries = 20,
    private readonly advise: Advisor<E, S> = () => [],
  ) {}

  private get aggregate() {
    return this.states.aggregate;
  }

  async execute<A>(commands: readonly Command<C, S>[], opts: ExecuteOptions<A, E, S>): Promise<Executed<A>> {
    if (commands.length === 0) throw new TypeError('a command needs at least one vCPU');
    const idem = opts.idempotency;
    if (!idem) return this.attempts(commands, opts);
    // Registered before the first await, so a repeat arriving at any moment queues behind it.
    const previous = this.inflight.get(idem.key);
    const run = (async () => {
      await previous?.catch(() => undefined);
      const rec = await this.store.findIdempotency(idem.key);
      if (rec) return this.replay(rec, idem, opts);
      return this.attempts(commands, opts);
    })();
    this.inflight.set(idem.key, run);
    void run
      .catch(() => undefined)
      .then(() => {
        if (this.inflight.get(idem.key) === run) this.inflight.delete(idem.key);
      });
    return run;
  }

  private async attempts<A>(commands: readonly Command<C, S>[], opts: ExecuteOptions<A, E, S>): Promise<Executed<A>> {
    const ids = commands.map((c) => c.streamId);
    for (let attempt = 0; ; attempt++) {
      const s = await this.locked(ids, () => this.decideAndSubmit(commands, opts));
      if (!s.append) return { answer: s.answer, replayed: false };
      try {
        const r = await s.append;
        if (r.replayed) return this.replay(r.record, opts.idempotency!, opts);
        return { answer: s.answer, replayed: false };
      } catch (e) {
        // Another process wrote first: decide again on what it left (conditions re-checked).
        if (!(e instanceof ConcurrencyError) || attempt >= this.maxRetries) throw e;
      }
    }
  }

  /** Runs under the vCPUs' locks: decide on the head states and queue the append (not awaited). */
  private async decideAndSubmit<A>(
    commands: readonly Command<C, S>[],
    opts: ExecuteOptions<A, E, S>,
  ): Promise<Submitted<A>> {
    const entries: Entry<S>[] = [];
    for (const c of commands) entries.push(await this.states.current(c.streamId, c.condition !== undefined));
    const a = this.aggregate;
    const decided: Decided<E, S>[] = commands.map((c, k) => {
      const entry = entries[k]!;
      const before = entry.head.state;
      if (c.condition && !conditionHolds(c.condition, entry.head.version)) {
        throw new PreconditionFailedError(
          c.streamId,
          entry.head.version,
          describeCondition(c.condition),
          Array.isArray(c.condition.match) ? c.condition.match : undefined,
        );
      }
      const command = typeof c.command === 'function' ? (c.command as (b: S | undefined) => C)(before) : c.command;
      const accelerator: Accelerator | undefined = a.acceleratorOf(before, command);
      const vcpuId = c.named ? c.streamId : undefined;
      const events = refusing(accelerator, vcpuId, () => a.decide(command, before));
      const state = refusing(accelerator, vcpuId, () => a.fold(before, events));
      if (!state) throw new CorruptHistoryError(`${a.noun} ${c.streamId}: a command decided nothing on a missing one`);
      const warnings = this.advise(before, events);
      if (opts.strict && warnings.length > 0) throw new QemuWouldRefuseError(c.streamId, accelerator, state, warnings);
      return { streamId: c.streamId, before, state, version: entry.head.version + events.length, events, warnings };
    });
    const answer = opts.answer(decided);
    const idem = opts.idempotency;
    if (!idem && decided.every((d) => d.events.length === 0)) return { answer };

    const append = this.store.appendGroup({
      appends: decided.map((d, k) => ({
        streamId: d.streamId,
        expectedVersion: entries[k]!.head.version,
        events: d.events.map((e) => a.serializeEvent(e)),
        kind: a.kind,
        ...(labelsOf(d) ? { labels: labelsOf(d)! } : {}),
      })),
      metadata: opts.metadata,
      ...(idem ? { idempotency: { ...idem, resultText: JSON.stringify(answer) } } : {}),
    });
    function labelsOf(d: Decided<E, S>) {
      return d.events.length > 0 ? a.labelsIfChanged(d.before, d.state) : undefined;
    }
    const moved = decided.flatMap((d, k) => (d.events.length > 0 ? [{ d, entry: entries[k]! }] : []));
    for (const { d, entry } of moved) {
      entry.head = { state: d.state, version: d.version };
      entry.pending++;
    }
    // Settle the cache synchronously with the commit (before anyone else can decide).
    append.then(
      (r) => {
        for (const { d, entry } of moved) {
          if (r.replayed) this.states.abandoned(d.streamId, entry);
          else this.states.committed(d.streamId, entry, d.state, d.version);
        }
      },
      () => moved.forEach(({ d, entry }) => this.states.abandoned(d.streamId, entry)),
    );
    return { answer, append };
  }

  /** A repeat: the first request's answer, from durable data only. */
  private async replay<A>(
    rec: IdempotencyRecord,
    idem: Idempotency,
    opts: ExecuteOptions<A, E, S>,
  ): Promise<Executed<A>> {
    if (rec.requestHash !== idem.requestHash) throw new IdempotencyConflictError(idem.key);
    await this.store.whenDurable(); // the original may be committed but its sync still in flight
    if (rec.resultText !== undefined) return { answer: JSON.parse(rec.resultText) as A, replayed: true };
    return { answer: opts.answer([await this.decidedFromRecord(rec)]), replayed: true };
  }

  /** A key recorded without its answer (an older store): the answer is made again from its events. */
  private async decidedFromRecord(rec: IdempotencyRecord): Promise<Decided<E, S>> {
    const after = await this.states.load(rec.streamId, rec.toVersion);
    if (!after) throw new CorruptHistoryError(`idempotency key ${rec.key} points at ${rec.streamId}@${rec.toVersion}`);
    const before = rec.fromVersion > 1 ? await this.states.load(rec.streamId, rec.fromVersion - 1) : undefined;
    const stored = await this.store.readStream(rec.streamId, rec.fromVersion, rec.toVersion);
    const events = stored.map((e) => this.aggregate.deserializeEvent(e.type, e.schemaVersion, e.data));
    const warnings = this.advise(before?.state, events);
    return {
      streamId: rec.streamId,
      before: before?.state,
      state: after.state,
      version: after.version,
      events,
      warnings,
    };
  }

  /** Takes the locks of every vCPU in id order (no deadlock between two groups), then runs `fn`. */
  private locked<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(ids)].sort();
    const take = (k: number): Promise<T> => {
      const id = sorted[k];
      return id === undefined ? fn() : this.lock.run(id, () => take(k + 1));
    };
    return take(0);
  }
}

export type { MetadataInput };
