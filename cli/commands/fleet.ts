/**
 * The fleet: host profiles (`profile put|get|list`, PUT/GET /v1/host-profiles) and the
 * compatibility matrix (`compat`: POST /v1/compatibility, or GET /v1/cpus/{id}/compatibility for
 * one vCPU), printed as a table of verdicts with each refusal's reasons, or `--json`.
 */
import { Option, type Command } from 'commander';
import type { CompatibilityMatrix, CompatibilityRequest, Finding, HostProfile, HostProfileRequest } from '../../client';
import { collect, connect, globalsOf, intArg, keyValues, printJson, readInput, table, type Globals } from '../context';
import { UsageError } from '../errors';
import { group, subcommand, type CommandFactory } from './define';
import { assignments } from './vcpus';

export function fleetCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  const profile = group(
    define('profile').description('Host profiles: the list and values a destination host migrates.'),
    ['put', 'get', 'list'],
  );
  subcommand(profile, 'put')
    .usage(
      'ID (--from IDLE.mig|- --qemu VERSION [--cpu-model M] | --accelerator tcg|kvm --qemu VERSION --value REG=0xV...) [--label K=V]...',
    )
    .description('Set a host profile from an idle stream of that host, or from its values; each change is an event.')
    .argument('<id>', 'the profile')
    .option('--from <stream>', 'an idle QEMU migration stream of that host (a file or -)')
    .option('--json-body <file>', 'the HostProfileRequest as JSON (a file or -)')
    .option('--qemu <version>', 'the QEMU version of the host (10.0, 7.2)')
    .option('--cpu-model <model>', 'the CPU model (fingerprinted from the values when absent)')
    .addOption(new Option('--accelerator <acc>', 'the accelerator').choices(['tcg', 'kvm']))
    .option('--machine <type>', 'the machine type (with --value)')
    .option('--value <reg=value>', 'a register id and its value (repeatable)', collect)
    .option('--label <k=v>', 'a label (repeatable)', collect)
    .option('--if-match <version>', 'only if the profile is at this version')
    .option('--idempotency-key <key>', 'a repeat with this key answers the first answer and records nothing')
    .action(async (id: string, o: PutOptions, cmd: Command) => put(globalsOf(cmd, env), id, o));
  subcommand(profile, 'get')
    .description('One host profile, now or at a past version.')
    .argument('<id>', 'the profile')
    .option('--version <n>', 'a past version', intArg(1))
    .action(async (id: string, o: { version?: number }, cmd: Command) => getProfile(globalsOf(cmd, env), id, o));
  subcommand(profile, 'list')
    .description('Every host profile (id, version, accelerator, QEMU, CPU model, machine, labels).')
    .option('--label <k=v>', 'only those with this label (repeatable: all must match)', collect)
    .action(async (o: { label?: string[] }, cmd: Command) => listProfiles(globalsOf(cmd, env), o.label ?? []));

  define('compat')
    .usage('[ID] [--cpu ID]... [--cpu-label K=V]... [--profile ID]... [--profile-label K=V]... [--json]')
    .description(
      'Will each vCPU load on each host profile? The matrix of verdicts, and the reasons of every refusal. With ID: every profile for that vCPU.',
    )
    .argument('[id]', 'one vCPU (GET /v1/cpus/{id}/compatibility)')
    .option('--cpu <id>', 'a vCPU (repeatable; default every one)', collect)
    .option('--cpu-label <k=v>', 'the vCPUs with this label (repeatable)', collect)
    .option('--profile <id>', 'a host profile (repeatable; default every one)', collect)
    .option('--profile-label <k=v>', 'the profiles with this label (repeatable)', collect)
    .option('--warnings', 'also list the warnings of accepted pairs')
    .action(async (id: string | undefined, o: CompatOptions, cmd: Command) => compat(globalsOf(cmd, env), id, o));
}

interface PutOptions {
  from?: string;
  jsonBody?: string;
  qemu?: string;
  cpuModel?: string;
  accelerator?: 'tcg' | 'kvm';
  machine?: string;
  value?: string[];
  label?: string[];
  ifMatch?: string;
  idempotencyKey?: string;
}

interface CompatOptions {
  cpu?: string[];
  cpuLabel?: string[];
  profile?: string[];
  profileLabel?: string[];
  warnings?: boolean;
}

const HINT = 'cpreg profile put --help';

async function put(g: Globals, id: string, o: PutOptions): Promise<void> {
  const lib = await import('../../client');
  const write = {
    ...(o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {}),
    ...(o.idempotencyKey !== undefined ? { idempotencyKey: o.idempotencyKey } : {}),
  };
  let p: HostProfile;
  const sources = [o.from, o.jsonBody, o.value].filter((x) => x !== undefined).length;
  if (sources !== 1) throw new UsageError('give one of --from STREAM, --json-body FILE or --value REG=0xV...', HINT);
  if (o.from !== undefined) {
    if (!o.qemu) throw new UsageError('--from needs --qemu VERSION', HINT);
    if (o.machine) throw new UsageError('--machine comes from the stream with --from', HINT);
    const stream = await readInput(o.from);
    const api = await connect(g);
    p = await lib.putHostProfileFromStream(
      api,
      id,
      stream,
      {
        qemu: o.qemu,
        ...(o.cpuModel ? { cpuModel: o.cpuModel } : {}),
        ...(o.accelerator ? { accelerator: o.accelerator } : {}),
        ...(o.label?.length ? { label: o.label } : {}),
      },
      write,
    );
  } else {
    let body: HostProfileRequest;
    if (o.jsonBody !== undefined) {
      if (o.qemu || o.cpuModel || o.accelerator || o.machine || o.label)
        throw new UsageError('--json-body carries every field: no other option', HINT);
      try {
        body = JSON.parse(new TextDecoder().decode(await readInput(o.jsonBody))) as HostProfileRequest;
      } catch (e) {
        if (e instanceof SyntaxError) throw new UsageError(`--json-body: ${e.message}`, HINT);
        throw e;
      }
    } else {
      if (!o.accelerator || !o.qemu) throw new UsageError('--value needs --accelerator and --qemu', HINT);
      const labels = keyValues(o.label, '--label');
      body = {
        accelerator: o.accelerator,
        qemu: o.qemu,
        registers: assignments(o.value ?? [], '--value'),
        ...(o.cpuModel ? { cpuModel: o.cpuModel } : {}),
        ...(o.machine ? { machine: o.machine } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
      };
    }
    const api = await connect(g);
    const headers: Record<string, string> = {};
    if (write.ifMatch !== undefined) headers['if-match'] = lib.ifMatch(write.ifMatch);
    if (write.idempotencyKey !== undefined) headers['idempotency-key'] = write.idempotencyKey;
    p = lib.unwrap(await api.PUT('/v1/host-profiles/{id}', { params: { path: { id } }, body, headers }));
  }
  printProfile(g, p);
}

function profileRow(p: HostProfile): string[] {
  return [
    p.id,
    String(p.version),
    p.accelerator,
    p.qemu,
    p.cpuModel,
    p.machine ?? '-',
    String(p.arrayLen),
    Object.entries(p.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
  ];
}

const PROFILE_HEAD = ['ID', 'VERSION', 'ACCEL', 'QEMU', 'CPU MODEL', 'MACHINE', 'REGISTERS', 'LABELS'];

function printProfile(g: Globals, p: HostProfile): void {
  if (g.json) return printJson(g, p);
  table([PROFILE_HEAD, profileRow(p)]).forEach((l) => g.out(l));
}

async function getProfile(g: Globals, id: string, o: { version?: number }): Promise<void> {
  const api = await connect(g);
  const { unwrap } = await import('../../client');
  const p = unwrap(
    await api.GET('/v1/host-profiles/{id}', {
      params: { path: { id }, query: o.version === undefined ? {} : { version: o.version } },
    }),
  );
  if (g.json) return printJson(g, p);
  printProfile(g, p);
  table(Object.entries(p.registers), '  ').forEach((l) => g.out(l));
}

async function listProfiles(g: Globals, labels: string[]): Promise<void> {
  keyValues(labels, '--label');
  const api = await connect(g);
  const { listAllHostProfiles } = await import('../../client');
  const items = await listAllHostProfiles(api, labels);
  if (g.json) return items.forEach((p) => g.out(JSON.stringify(p)));
  table([PROFILE_HEAD, ...items.map(profileRow)]).forEach((l) => g.out(l));
}

function selector(ids: string[] | undefined, labels: string[] | undefined, what: string) {
  if (ids?.length && labels?.length)
    throw new UsageError(`give ${what} ids or labels, not both`, 'cpreg compat --help');
  if (ids?.length) return ids;
  if (labels?.length) return { label: keyValues(labels, `--${what}-label`) };
  return undefined;
}

/** A finding on one line: `constant-differs: MIDR_EL1 0x… (host 0x…): the message`. */
export function findingLine(f: Finding): string {
  const regs = f.registers
    .slice(0, 4)
    .map(
      (r) =>
        r.name +
        (r.incoming !== undefined ? ` ${r.incoming}` : '') +
        (r.destination !== undefined ? ` (host ${r.destination})` : '') +
        (r.kept !== undefined ? ` (kept ${r.kept})` : ''),
    )
    .join(', ');
  const more = f.registers.length > 4 ? ` and ${f.registers.length - 4} more` : '';
  return `${f.rule}: ${f.message}${regs ? ` [${regs}${more}]` : ''}`;
}

/** The matrix: one row per vCPU, one column per profile, `ok`, `ok!N` (N warnings) or `REFUSED`. */
export function matrixLines(m: CompatibilityMatrix, warnings = false): string[] {
  const cell = new Map(m.pairs.map((p) => [`${p.cpu}\u0000${p.hostProfile}`, p]));
  const rows = [['VCPU \\ PROFILE', ...m.hostProfiles]];
  for (const c of m.cpus)
    rows.push([
      c,
      ...m.hostProfiles.map((h) => {
        const p = cell.get(`${c}\u0000${h}`);
        if (!p) return '-';
        if (p.verdict === 'refused') return 'REFUSED';
        return p.warnings.length ? `ok!${p.warnings.length}` : 'ok';
      }),
    ]);
  const lines = table(rows);
  const refused = m.pairs.filter((p) => p.verdict === 'refused');
  const accepted = m.pairs.length - refused.length;
  lines.push(`${accepted} accepted, ${refused.length} refused (ok!N: accepted with N warnings)`);
  for (const p of m.pairs) {
    const list = p.verdict === 'refused' ? p.reasons : warnings ? p.warnings : [];
    if (!list.length) continue;
    lines.push(`${p.cpu} → ${p.hostProfile}: ${p.verdict}`);
    for (const f of list) lines.push(`  ${p.verdict === 'refused' ? 'reason' : 'warning'}: ${findingLine(f)}`);
  }
  return lines;
}

async function compat(g: Globals, id: string | undefined, o: CompatOptions): Promise<void> {
  const api = await connect(g);
  const { unwrap } = await import('../../client');
  let m: CompatibilityMatrix;
  if (id !== undefined) {
    if (o.cpu || o.cpuLabel || o.profile)
      throw new UsageError('with ID, only --profile-label selects', 'cpreg compat --help');
    m = unwrap(
      await api.GET('/v1/cpus/{id}/compatibility', {
        params: { path: { id }, query: o.profileLabel?.length ? { label: o.profileLabel } : {} },
      }),
    );
  } else {
    const cpus = selector(o.cpu, o.cpuLabel, 'cpu');
    const hostProfiles = selector(o.profile, o.profileLabel, 'profile');
    const body: CompatibilityRequest = { ...(cpus ? { cpus } : {}), ...(hostProfiles ? { hostProfiles } : {}) };
    m = unwrap(await api.POST('/v1/compatibility', { body }));
  }
  if (g.json) return printJson(g, m);
  matrixLines(m, o.warnings).forEach((l) => g.out(l));
}
