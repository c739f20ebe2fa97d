export * from './event-store';
export { SqliteEventStore, type SqliteStoreOptions } from './sqlite/sqlite-event-store';
export { dbPathFromEnv, snapshotEveryFromEnv, DEFAULT_DB_PATH } from './config';
export { canonicalJson, canonicalEventText, chainHash, GENESIS_HASH } from './canonical';
export {
  VcpuRepository,
  type ExecuteOptions,
  type ExecuteResult,
  type Loaded,
  type LoadOptions,
  type RepositoryOptions,
} from './vcpu-repository';
