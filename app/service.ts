import type { EventStore } from '../storage/event-store';
import { AuditLog, type AuditOptions } from './audit';
import { checkDerived } from './derived-check';
import { CommandHandler, type ExecuteOptions, type Executed } from './command-handler';
import { Fleet } from './fleet';
import { measuredFingerprint, measuredPredictor } from './measured-predictor';
import { writeAdvice } from './vcpu-compatibility';
import { HostProfiles } from './host-profiles';
import { Migrations } from './migration';
import { profileAggregate } from './profile-aggregate';
import { VcpuQueries } from './vcpu-queries';
import { States, type StatesOptions } from './states';
import { vcpuAggregate, type VcpuCommandOn, type VcpuCommands, type VcpuStates } from './vcpu-aggregate';
import type { VcpuEvent, VcpuState } from '../domain/vcpu';
import { importVm, type VmImportRequest } from './vm-import';
import { vmRewrite, type VmRewrite } from './vm-rewrite';

export interface ServiceOptions extends StatesOptions {
  /** Retries of a write that lost a race with another process (default 20). */
  maxRetries?: number;
  /** Signed checkpoints and the self-check (app/audit.ts). */
  audit?: AuditOptions;
}

/**
 * The application: every command and query of cpreg-ledger over one event store. The HTTP
 * API and the tests use this, never the store.
 */
export class CpregService {
  readonly states: VcpuStates;
  readonly commands: VcpuCommands;
  readonly queries: VcpuQueries;
  readonly migrations: Migrations;
  readonly profiles: HostProfiles;
  readonly fleet: Fleet;
  readonly audit: AuditLog;

  constructor(
    private readonly store: EventStore,
    opts: ServiceOptions = {},
  ) {
    this.states = new States(store, vcpuAggregate, opts);
    this.commands = new CommandHandler(store, this.states, opts.maxRetries, writeAdvice);
    this.queries = new VcpuQueries(store, this.states);
    this.migrations = new Migrations(this.queries, this.commands);
    const profileStates = new States(store, profileAggregate, opts);
    this.fleet = new Fleet(measuredFingerprint, measuredPredictor);
    this.profiles = new HostProfiles(store, profileStates, new CommandHandler(store, profileStates, opts.maxRetries));
    this.audit = new AuditLog(store, {
      ...opts.audit,
      checkDerived: () => checkDerived(store, [this.states, profileStates]),
    });
    this.audit.start();
  }

  execute<A>(commands: readonly VcpuCommandOn[], opts: ExecuteOptions<A, VcpuEvent, VcpuState>): Promise<Executed<A>> {
    return this.commands.execute(commands, opts);
  }

  importVm<A>(req: VmImportRequest<A>): Promise<Executed<A>> {
    return importVm(this.commands, req);
  }

  /** A rewrite of the VM's QEMU stream with the values the service holds (app/vm-rewrite.ts). */
  vmRewrite(vm: string, opts: { lenient?: boolean } = {}): Promise<VmRewrite> {
    return vmRewrite(this.queries, vm, opts);
  }

  /** Resolves once everything acknowledged so far is on disk. */
  whenDurable(): Promise<void> {
    return this.store.whenDurable();
  }

  close(): Promise<void> {
    this.audit.stop();
    return this.store.close();
  }
}
