import type { EventStore } from '../storage/event-store';
import { CommandHandler, type Command, type ExecuteOptions, type Executed } from './command-handler';
import { Migrations } from './migration';
import { VcpuQueries } from './vcpu-queries';
import { VcpuStates, type StatesOptions } from './vcpu-states';
import { importVm, vcpuIdOf, type VmImportRequest } from './vm-import';
import type { VcpuState } from '../domain/vcpu';

export interface ServiceOptions extends StatesOptions {
  /** Retries of a write that lost a race with another process (default 20). */
  maxRetries?: number;
}

/**
 * The application: every command and query of cpreg-ledger over one event store. The HTTP
 * API and the tests use this, never the store.
 */
export class CpregService {
  readonly states: VcpuStates;
  readonly commands: CommandHandler;
  readonly queries: VcpuQueries;
  readonly migrations: Migrations;

  constructor(
    private readonly store: EventStore,
    opts: ServiceOptions = {},
  ) {
    this.states = new VcpuStates(store, opts);
    this.commands = new CommandHandler(store, this.states, opts.maxRetries);
    this.queries = new VcpuQueries(store, this.states);
    this.migrations = new Migrations(this.queries, this.commands);
  }

  execute<A>(commands: readonly Command[], opts: ExecuteOptions<A>): Promise<Executed<A>> {
    return this.commands.execute(commands, opts);
  }

  importVm<A>(req: VmImportRequest<A>): Promise<Executed<A>> {
    return importVm(this.commands, req);
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

  /** Resolves once everything acknowledged so far is on disk. */
  whenDurable(): Promise<void> {
    return this.store.whenDurable();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
