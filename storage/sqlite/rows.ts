import type { EventMetadata, RawEvent, StoredEvent } from '../event-store';

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

/** Column order of a payload read: version, type, schema_version, data. */
export const PAYLOAD_COLUMNS = 'version, type, schema_version, data';
/** A payload row is already an EventPayload ([version, type, schemaVersion, data]). */
