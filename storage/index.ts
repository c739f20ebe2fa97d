export * from './event-store';
export { SqliteEventStore, type SqliteStoreOptions } from './sqlite/sqlite-event-store';
export { dbPathFromEnv, snapshotEveryFromEnv, DEFAULT_DB_PATH } from './config';
export { canonicalJson, canonicalEventText, chainHash, GENESIS_HASH } from './canonical';
