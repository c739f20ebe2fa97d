import { decideProfile, foldProfile } from '../domain/host-profile/decider';
import {
  deserializeProfileEvent,
  PROFILE_SCHEMA_VERSION,
  profileFromJson,
  profileToJson,
  serializeProfileEvent,
} from '../domain/host-profile/codec';
import type { HostProfile, HostProfileCommand, HostProfileEvent } from '../domain/host-profile/profile';
import { CorruptHistoryError } from '../domain/vcpu';
import type { Aggregate } from './aggregate';
import type { CommandHandler } from './command-handler';
import type { States } from './states';

export const profileAggregate: Aggregate<HostProfileCommand, HostProfileEvent, HostProfile> = {
  kind: 'host-profile',
  noun: 'host profile',
  decide: decideProfile,
  fold: foldProfile,
  foldStored: (base, payloads) =>
    foldProfile(
      base,
      payloads.map((p) => deserializeProfileEvent(p[1], p[2], JSON.parse(p[3]))),
    ),
  serializeEvent: serializeProfileEvent,
  deserializeEvent: deserializeProfileEvent,
  serializeState: (s) => ({ schemaVersion: PROFILE_SCHEMA_VERSION, data: profileToJson(s) }),
  deserializeState: (v, data) => {
    if (v !== PROFILE_SCHEMA_VERSION) throw new CorruptHistoryError(`host profile snapshot version ${v}`);
    return profileFromJson(data);
  },
  labelsIfChanged: (before, after) =>
    !before || JSON.stringify(before.labels) !== JSON.stringify(after.labels) ? { ...after.labels } : undefined,
  acceleratorOf: (state, c) => (state ?? c.profile).accelerator,
};

export type ProfileStates = States<HostProfileCommand, HostProfileEvent, HostProfile>;
export type ProfileCommands = CommandHandler<HostProfileCommand, HostProfileEvent, HostProfile>;

/** A profile's stream: its own namespace (`/` is never in a vCPU id). */
export const profileStreamId = (id: string) => `host-profile/${id}`;
export const profileIdOf = (streamId: string) => streamId.slice('host-profile/'.length);
