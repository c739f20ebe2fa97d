import type { VcpuEvent } from '../../domain/vcpu';

/** The domain event of a given type (routes know which event their command records). */
export type RegisteredEvent<T extends VcpuEvent['type']> = Extract<VcpuEvent, { type: T }>;
