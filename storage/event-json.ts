import type { RawEvent } from './event-store';

/**
 * A stored event as the API's JSON text (position, streamId, version, type, schemaVersion, data,
 * metadata, hash in hex), made from the stored text without parsing it: data and metadata are
 * canonical JSON already. A store may compose the same bytes itself (SQLite does, in its query).
 */
export function eventJsonText(e: RawEvent): string {
  return (
    `{"position":${e.position},"streamId":${JSON.stringify(e.streamId)},"version":${e.version},` +
    `"type":${JSON.stringify(e.type)},"schemaVersion":${e.schemaVersion},"data":${e.dataText},` +
    `"metadata":${e.metadataText},"hash":"${e.hash}"}`
  );
}

/** One event of a feed page as JSON text, with what an SSE frame names besides it. */
export interface JsonEvent {
  position: number;
  type: string;
  json: string;
}

/** A page of the global feed as JSON texts, bounded like a RawPage. */
export interface JsonPage {
  events: JsonEvent[];
  /** Position of the last event returned, or the `after` asked. */
  last: number;
  more: boolean;
}

export function jsonPageOf(events: readonly RawEvent[], last: number, more: boolean): JsonPage {
  return {
    events: events.map((e) => ({ position: e.position, type: e.type, json: eventJsonText(e) })),
    last,
    more,
  };
}
