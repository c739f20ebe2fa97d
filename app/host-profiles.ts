import type { HostProfile, ProfileSource } from '../domain/host-profile/profile';
import type { EventStore, MetadataInput } from '../storage/event-store';
import type { Executed, Idempotency } from './command-handler';
import type { VersionCondition } from './conditions';
import { NotFoundError } from './errors';
import { allPages } from './pages';
import { profileIdOf, profileStreamId, type ProfileCommands, type ProfileStates } from './profile-aggregate';

export interface ProfileAt {
  id: string;
  version: number;
  profile: HostProfile;
}

/** Host profiles: set (an event, like every change), read, list. */
export class HostProfiles {
  constructor(
    private readonly store: EventStore,
    private readonly states: ProfileStates,
    private readonly commands: ProfileCommands,
  ) {}

  set<A>(
    id: string,
    profile: HostProfile,
    source: ProfileSource,
    opts: {
      metadata: MetadataInput;
      idempotency?: Idempotency;
      condition?: VersionCondition;
      answer: (p: ProfileAt & { created: boolean; changed: boolean }) => A;
    },
  ): Promise<Executed<A>> {
    return this.commands.execute(
      [
        {
          streamId: profileStreamId(id),
          command: { type: 'SetHostProfile', profile, source },
          ...(opts.condition ? { condition: opts.condition } : {}),
        },
      ],
      {
        metadata: opts.metadata,
        ...(opts.idempotency ? { idempotency: opts.idempotency } : {}),
        answer: ([d]) =>
          opts.answer({
            id,
            version: d!.version,
            profile: d!.state,
            created: d!.before === undefined,
            changed: d!.events.length > 0,
          }),
      },
    );
  }

  async get(id: string, version?: number): Promise<ProfileAt> {
    const loaded = await this.states.load(profileStreamId(id), version);
    if (!loaded)
      throw new NotFoundError(
        'profile-not-found',
        `no host profile ${JSON.stringify(id)}${version ? ` at version ${version}` : ''}`,
      );
    return { id, version: loaded.version, profile: loaded.state };
  }

  async list(q: { labels: Record<string, string>; after?: string; limit: number }) {
    const page = await this.store.listStreams({
      labels: q.labels,
      limit: q.limit,
      kind: 'host-profile',
      ...(q.after === undefined ? {} : { after: profileStreamId(q.after) }),
    });
    const items: ProfileAt[] = [];
    for (const s of page.streams) {
      const loaded = await this.states.load(s.streamId);
      if (loaded) items.push({ id: profileIdOf(s.streamId), version: loaded.version, profile: loaded.state });
    }
    return { items, ...(page.next === undefined ? {} : { next: profileIdOf(page.next) }) };
  }

  /** Every profile (the matrix takes them all when asked for all). */
  async all(labels: Record<string, string> = {}): Promise<ProfileAt[]> {
    return allPages((q) => this.list(q), labels);
  }
}
