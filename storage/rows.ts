import type { EventMetadata, RawEvent, StoredEvent, StreamInfo } from './event-store';

/**
 * The row shapes both backends read (storage/sqlite, storage/postgres: the same columns, the
 * same types as their drivers hand them back), and what they become.
 */

/** Column order of every full event read: position, stream_id, version, type, schema_version, data, metadata, hash. */
export const EVENT_COLUMNS = 'position, stream_id, version, type, schema_version, data, metadata, hash';
export type EventRow = [number, string, number, string, number, string, string, Buffer];

export function toStoredEvent(r: EventRow): StoredEvent {
  return {
    position: r[0],
    streamId: r[1],
    version: r[2],
    type: r[3],
    schemaVersion: r[4],
    data: JSON.parse(r[5]),
    metadata: JSON.parse(r[6]) as EventMetadata,
    hash: r[7].toString('hex'),
  };
}

/** A row as the raw readers hand it on: text unparsed, hash as hex. */
export function toRawEvent(r: EventRow): RawEvent {
  return {
    position: r[0],
    streamId: r[1],
    version: r[2],
    type: r[3],
    schemaVersion: r[4],
    dataText: r[5],
    metadataText: r[6],
    hash: r[7].toString('hex'),
  };
}

export const STREAM_COLUMNS = 'stream_id, version, created_at, updated_at, labels';
export interface StreamRow {
  stream_id: string;
  version: number;
  created_at: string;
  updated_at: string;
  labels: string;
}

export function toStreamInfo(r: StreamRow): StreamInfo {
  return {
    streamId: r.stream_id,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    labels: JSON.parse(r.labels),
  };
}
