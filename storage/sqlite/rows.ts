// The event and stream row mapping is shared with storage/postgres (storage/rows.ts).
export { EVENT_COLUMNS, toRawEvent, toStoredEvent, type EventRow } from '../rows';

/** Column order of a payload read: version, type, schema_version, data. */
export const PAYLOAD_COLUMNS = 'version, type, schema_version, data';
/** A payload row is already an EventPayload ([version, type, schemaVersion, data]). */
