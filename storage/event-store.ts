/**
 * The event store, backend-neutral: SQLite implements it (storage/sqlite/); another backend
 * implements the same interface without touching domain/, app/ or api/. Everything is async for that
 * reason, even though better-sqlite3 answers synchronously.
 */
import type { SerializedEvent } from '../domain/vcpu';
import type { JsonPage } from './event-json';

/** An event to append (the domain's serializeEvent output). */
export interface NewEvent {
  type: string;
  schemaVersion: number;
  data: unknown;
  /** canonicalJson(data), when the serializer wrote it: stored (and hashed) as given. */
  dataText?: string;
}

export interface EventMetadata {
  actor: string;
  correlationId?: string;
  causationId?: string;
  requestId?: string;
  /** The W3C trace context of the request that recorded the event, when it carried one. */
  traceparent?: string;
  /** ISO-8601, set by the store when the event is appended. */
  recordedAt: string;
}

/** What a caller gives: the store stamps recordedAt. */
export type MetadataInput = Omit<EventMetadata, 'recordedAt'>;

export interface StoredEvent {
  /** Global position: 1, 2, 3 … in append order, never reused. */
  position: number;
  streamId: string;
  /** 1..n within the stream. */
  version: number;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: EventMetadata;
  /** Hex sha256 of (previous event's hash || canonical bytes of this event); see docs/storage.md. */
  hash: string;
}

/**
 * The part of an event a fold needs (no metadata, no hash), as the domain's fold takes it:
 * [version, type, schemaVersion, dataJson]. The data stays JSON text — the fold parses only
 * the events that change registers — and a row needs no object of its own.
 */
export type EventPayload = SerializedEvent;

/** 'any': no check; 'no-stream': the stream must not exist; n: the stream is exactly at version n (0 = no stream). */
export type ExpectedVersion = 'any' | 'no-stream' | number;

export interface IdempotencyInput {
  key: string;
  /** A digest of the request (computed by the caller): the same key with another request is refused. */
  requestHash: string;
  /** The answer to remember and return to a repeat, as the exact JSON text first sent. */
  resultText?: string;
}

export interface AppendRequest {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: readonly NewEvent[];
  metadata: MetadataInput;
  idempotency?: IdempotencyInput;
  /** Stream labels for listing (they also live in the events); unchanged when absent. */
  labels?: Record<string, string>;
  /** The kind a new stream is created with (default 'vcpu'); an existing stream keeps its own. */
  kind?: string;
}

/** One stream's part of a group append (metadata and idempotency belong to the group). */
export type StreamAppend = Omit<AppendRequest, 'metadata' | 'idempotency'>;

/**
 * Appends to several streams as one unit: all of them or none. The idempotency key, when
 * given, is checked and recorded in the same transaction, so of two racers with one key exactly
 * one appends and the other gets the record (and the answer) of the first.
 */
export interface AppendGroup {
  appends: readonly StreamAppend[];
  metadata: MetadataInput;
  idempotency?: IdempotencyInput;
}

export interface StreamAppended {
  streamId: string;
  version: number;
  events: StoredEvent[];
}

export type AppendGroupResult =
  { replayed: false; streams: StreamAppended[] } | { replayed: true; record: IdempotencyRecord };

/** What an idempotency key remembers (for a group: its first stream, and all its positions). */
export interface IdempotencyRecord {
  key: string;
  requestHash: string;
  streamId: string;
  fromVersion: number;
  toVersion: number;
  firstPosition: number;
  lastPosition: number;
  /** The exact JSON text of the first answer, if one was kept. */
  resultText?: string;
}

export type AppendResult =
  | { replayed: false; streamId: string; version: number; events: StoredEvent[] }
  | { replayed: true; streamId: string; version: number; events: []; record: IdempotencyRecord };

export interface StreamInfo {
  streamId: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  labels: Record<string, string>;
}

export interface ListStreamsQuery {
  /** Cursor: stream ids strictly greater than this one. */
  after?: string;
  limit?: number;
  /** Every label given must match exactly. */
  labels?: Record<string, string>;
  /** The kind of stream (default 'vcpu'). */
  kind?: string;
}

export interface StreamPage {
  streams: StreamInfo[];
  /** Cursor of the next page, absent on the last one. */
  next?: string;
}

/** An event as stored: data and metadata as the canonical JSON text its hash covers. */
export interface RawEvent {
  position: number;
  streamId: string;
  version: number;
  type: string;
  schemaVersion: number;
  dataText: string;
  metadataText: string;
  /** Hex. */
  hash: string;
}

/** A page of stored events, bounded by count and by bytes (at least one event when any). */
export interface RawPage {
  events: RawEvent[];
  /** Position (feed) or version (stream) of the last event returned, or the `after` asked. */
  last: number;
  /** More events follow. */
  more: boolean;
}

export interface FeedPage {
  events: StoredEvent[];
  /** Position of the last event returned (or the `after` asked): pass it back for the next page. */
  lastPosition: number;
}

export interface SnapshotInput {
  streamId: string;
  version: number;
  schemaVersion: number;
  data: unknown;
}

/** A snapshot whose bytes and binding to the event chain the store has checked. */
export interface StoredSnapshot {
  streamId: string;
  version: number;
  schemaVersion: number;
  data: unknown;
}

/** A snapshot row as stored, with what its binding to the log says (for audits, not loads). */
export interface SnapshotListing {
  streamId: string;
  version: number;
  schemaVersion: number;
  /** The stored state text. */
  dataText: string;
  /** The event at that version still has the hash the snapshot was folded from. */
  bound: boolean;
  /** Its seal under this store's key: ok, bad (changed after sealing) or foreign (another key). */
  seal: 'ok' | 'bad' | 'foreign';
}

export interface VerifyAnchor {
  position: number;
  /** Hex hash recorded elsewhere for that position. */
  hash: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Events walked. */
  events: number;
  headPosition: number;
  /** Hex hash of the last event (64 zeros for an empty store): anchor it elsewhere. */
  headHash: string;
  /** First position where the chain breaks (edited, deleted or inserted rows). */
  firstBrokenPosition?: number;
  reason?: string;
}

export interface EventStore {
  /** Appends all events of one command atomically, or none. Durable before it resolves. */
  append(request: AppendRequest): Promise<AppendResult>;
  /** Appends to several streams atomically (all or none). Durable before it resolves. */
  appendGroup(group: AppendGroup): Promise<AppendGroupResult>;
  /** Current version of a stream, 0 when it does not exist. */
  streamVersion(streamId: string): Promise<number>;
  /**
   * Whether other processes commonly append to these streams (several nodes on one PostgreSQL):
   * then a command checks the stream's version before deciding on a cached state. Where they
   * rarely do (one SQLite file), it decides on the cache at once: the append's expected version
   * still refuses a stale decision, and the command is decided again on the stored state.
   */
  readonly sharedWriters: boolean;
  getStream(streamId: string): Promise<StreamInfo | undefined>;
  listStreams(query?: ListStreamsQuery): Promise<StreamPage>;
  /** Events of a stream with fromVersion ≤ version ≤ toVersion, ascending (at most `limit`). */
  readStream(streamId: string, fromVersion?: number, toVersion?: number, limit?: number): Promise<StoredEvent[]>;
  /** Like readStream without metadata and hash: what a fold needs. */
  readPayloads(streamId: string, fromVersion?: number, toVersion?: number): Promise<EventPayload[]>;
  /** The global feed: events with position > afterPosition, ascending, at most `limit`. */
  readAll(afterPosition: number, limit: number): Promise<FeedPage>;
  /** The global feed as stored text, at most `limit` events and about `maxBytes` of text. */
  readFeedRaw(afterPosition: number, limit: number, maxBytes: number): Promise<RawPage>;
  /** The feed as eventJsonText's texts, bounded likewise (a store that composes them itself). */
  readFeedJson?(afterPosition: number, limit: number, maxBytes: number): Promise<JsonPage>;
  /** One stream's events with version > afterVersion as stored text, bounded likewise. */
  readStreamRaw(streamId: string, afterVersion: number, limit: number, maxBytes: number): Promise<RawPage>;
  /** Calls `listener` after each durable commit of this process; returns how to stop. */
  onCommit(listener: () => void): () => void;
  findIdempotency(key: string): Promise<IdempotencyRecord | undefined>;
  /** Valid snapshots of a stream at or below a version, newest first (at most `limit`). */
  getSnapshots(streamId: string, atOrBelowVersion: number, limit?: number): Promise<StoredSnapshot[]>;
  putSnapshot(snapshot: SnapshotInput): Promise<void>;
  /** Every snapshot row of a stream, ascending by version, unchecked (an audit folds and compares). */
  snapshotRows(streamId: string): Promise<SnapshotListing[]>;
  /** Walks the hash chain; `anchor` checks a head recorded elsewhere is still in the chain. */
  verify(anchor?: VerifyAnchor): Promise<VerifyReport>;
  /** Resolves once every append acknowledged or committed so far is on disk. */
  whenDurable(): Promise<void>;
  close(): Promise<void>;
}

/** An append whose expected version did not match: nothing was appended. */
export class ConcurrencyError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`stream ${streamId} is at version ${actual}, expected ${expected === 'no-stream' ? 'no stream' : expected}`);
    this.name = 'ConcurrencyError';
  }
}

/** The same idempotency key with a different request: refused. */
export class IdempotencyConflictError extends Error {
  constructor(readonly key: string) {
    super(`idempotency key ${JSON.stringify(key)} was already used for a different request`);
    this.name = 'IdempotencyConflictError';
  }
}

/** The database was written by a newer cpreg-ledger (or is otherwise not ours to open). */
export class SchemaVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaVersionError';
  }
}

/** The database cannot be written (a read-only file or disk, no permission): the store refuses it. */
export class StorageUnwritableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageUnwritableError';
  }
}
