import type { EventStore } from '../storage/event-store';
import type { VcpuRepository } from '../storage/vcpu-repository';
import type { TokenEntry } from './auth';
import type { Logger } from './logging';

/** What the HTTP layer is given: the store, the repository that runs the decider, config. */
export interface AppContext {
  store: EventStore;
  repo: VcpuRepository;
  logger: Logger;
  tokens?: TokenEntry[];
  /** Called when the service is shutting down: long-lived responses (SSE) end. */
  onShutdown: (fn: () => void) => void;
}
