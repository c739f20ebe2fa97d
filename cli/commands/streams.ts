/**
 * The stream commands: `inspect` (offline), `import` and `rewrite` (the stream uploaded to the
 * service, cli/upload.ts), `convert` (offline, cli/convert.ts). docs/cli.md, docs/qemu-streams.md.
 */
import * as fs from 'fs';
import { Option, type Command } from 'commander';
import type { StreamInfo } from '../../domain/qemu-stream';
import type { ImportAnswer } from '../../client';
import { connect, globalsOf, serverUrl, type Globals } from '../context';
import { CliError, UsageError } from '../errors';
import type { CommandFactory } from './define';

const VM = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/;

function vmName(v: string): string {
  if (!VM.test(v)) throw new UsageError('--vm must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$');
  return v;
}

export function streamCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  define('inspect', { hint: 'cpreg --help' })
    .usage('FILE.mig|- [--json]')
    .description("Read a QEMU migration stream offline: machine, page size, each vCPU's cpreg list.")
    .argument('<file>', 'the stream (- reads stdin)')
    .action(async (file: string, _o: unknown, cmd: Command) => inspect(globalsOf(cmd, env), file));

  define('import', { hint: 'cpreg --help' })
    .usage('FILE.mig|- --vm NAME [--accelerator tcg|kvm|hvf] [--label K=V]... [--json]')
    .description('Create, or load into, the vCPUs NAME.cpu<N> on the service.')
    .argument('<file>', 'the stream (- reads stdin)')
    .requiredOption('--vm <name>', 'the vCPUs are NAME.cpu<N>')
    .addOption(new Option('--accelerator <acc>', 'for vCPUs this import creates').choices(['tcg', 'kvm', 'hvf']))
    .option('--label <k=v>', 'a label of the vCPUs this import creates (repeatable)', (v, p: string[] = []) => [
      ...p,
      v,
    ])
    .option('--idempotency-key <key>', 'a repeat with this key answers the first answer and records nothing')
    .action(
      async (
        file: string,
        o: { vm: string; accelerator?: string; label?: string[]; idempotencyKey?: string },
        cmd: Command,
      ) => importStream(globalsOf(cmd, env), file, o),
    );

  define('rewrite', { hint: 'cpreg --help' })
    .usage('FILE.mig --vm NAME -o OUT.mig|- [--no-check] [--lenient]')
    .description("Write OUT.mig: FILE.mig with each vCPU's cpreg values replaced by the service's NAME.cpu<N>.")
    .argument('<file>', 'the stream (- reads stdin, and skips the check)')
    .requiredOption('--vm <name>', 'the vCPUs are NAME.cpu<N>')
    .requiredOption('-o, --output <out>', 'the rewritten stream (- for stdout)')
    .option('--no-check', 'skip the pre-check of the lists against GET /v1/cpus/{id}/arrays')
    .option('--lenient', "write values the stream's QEMU would refuse (else the rewrite is refused, naming them)")
    .action(async (file: string, o: { vm: string; output: string; check: boolean; lenient?: boolean }, cmd: Command) =>
      rewrite(globalsOf(cmd, env), file, o),
    );

  define('convert', { hint: 'cpreg convert --help' })
    .usage('FILE.mig --to v23|v22 [-o OUT.mig|-]')
    .description(
      'Offline: FILE.mig with its cpu sections in the v23 or v22 cpreg layout (nothing else changes; to v22 is refused for registers wider than 8 bytes).',
    )
    .argument('<file>', 'the stream')
    .addOption(new Option('--to <format>', 'the layout to write').choices(['v23', 'v22']).makeOptionMandatory())
    .option('-o, --output <out>', 'the output file (written as OUT.part, renamed when complete); - or none: stdout')
    .action(async (file: string, o: { to: 'v22' | 'v23'; output?: string }, cmd: Command) => {
      const { convert } = await import('../convert');
      const g = globalsOf(cmd, env);
      await convert({ file, to: o.to, out: o.output ?? '-' }, g.out, g.json);
    });
}

async function inspect(g: Globals, file: string): Promise<void> {
  const lib = await import('../inspect-file');
  let info: StreamInfo;
  if (file === '-') {
    if (process.stdin.isTTY) throw new UsageError('- reads stdin, which is a terminal: give a FILE or redirect stdin');
    info = await lib.inspectStream(process.stdin);
  } else {
    const { startProgress } = await import('../progress');
    const p = await startProgress(lib.fileSize(file), 'inspect', g.progress);
    try {
      info = lib.inspectFile(file, (d) => p.update(d));
    } finally {
      p.done();
    }
  }
  if (g.json) {
    const { inspectionView } = await import('../../api/stream-body');
    g.out(JSON.stringify(inspectionView(info), null, 2));
  } else g.out(lib.humanInspection(file === '-' ? '(stdin)' : file, info));
}

async function importStream(
  g: Globals,
  file: string,
  o: { vm: string; accelerator?: string; label?: string[]; idempotencyKey?: string },
): Promise<void> {
  const { postFile, answerLine } = await import('../upload');
  const q = new URLSearchParams({ vm: vmName(o.vm) });
  if (o.accelerator) q.set('accelerator', o.accelerator);
  for (const l of o.label ?? []) {
    if (!/^[^=]+=/.test(l)) throw new UsageError(`--label must be KEY=VALUE, got ${JSON.stringify(l)}`);
    q.append('label', l);
  }
  serverUrl(g);
  const a = await postFile(
    g,
    `v1/qemu-streams/import?${q}`,
    file,
    'import',
    undefined,
    o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
  );
  if (a.status !== 200) throw new CliError(answerLine(a));
  const report = JSON.parse(a.body.toString('utf8')) as ImportAnswer;
  if (g.json) return g.out(JSON.stringify(report, null, 2));
  for (const c of report.cpus) {
    let line = `${c.id}: ${c.action}, version ${c.version}`;
    if (c.report)
      line += `, ${c.report.changed.length} register${c.report.changed.length === 1 ? '' : 's'} changed${c.report.changed.length ? ` (${c.report.changed.map((x) => `${x.name}=${x.value}`).join(', ')})` : ''}`;
    g.out(line);
    for (const w of c.report?.warnings ?? []) g.out(`  warning: ${'rule' in w ? w.rule : w.name}: ${w.message}`);
  }
}

/** The pre-check of a rewrite: every vCPU exists with exactly the stream's list (clear message before uploading). */
async function checkRewrite(g: Globals, vm: string, info: StreamInfo): Promise<void> {
  const { vcpuIdOf } = await import('../../api/stream-body');
  const { registerName } = await import('../../domain/names');
  const { formatRegId } = await import('../../domain/regid');
  const api = await connect(g);
  const { problemError } = await import('../../client');
  for (const c of info.cpus) {
    const id = vcpuIdOf(vm, c.instance);
    const r = await api.GET('/v1/cpus/{id}/arrays', { params: { path: { id } } });
    if (r.response.status === 404)
      throw new CliError(`no vCPU ${id} on the server for the stream's cpu ${c.instance} (import the stream first)`);
    if (!r.data) throw new CliError(problemError(r.response, r.error).message);
    const mine = r.data.cpregIndexes;
    const theirs = Array.from(c.indexes, formatRegId);
    if (mine.length !== theirs.length || mine.some((x, i) => x !== theirs[i])) {
      const inVcpu = new Set(mine);
      const inStream = new Set(theirs);
      const onlyStream = theirs.filter((x) => !inVcpu.has(x));
      const onlyVcpu = mine.filter((x) => !inStream.has(x));
      const show = (l: string[]) =>
        l
          .slice(0, 8)
          .map((x) => `${registerName(BigInt(x), 'tcg')} ${x}`)
          .join(', ') + (l.length > 8 ? ` and ${l.length - 8} more` : '');
      const parts = [];
      if (onlyStream.length) parts.push(`only in the stream: ${show(onlyStream)}`);
      if (onlyVcpu.length) parts.push(`only in ${id}: ${show(onlyVcpu)}`);
      throw new CliError(
        `the register list of ${id} (${mine.length}) differs from the stream's cpu ${c.instance} (${theirs.length})${parts.length ? ': ' + parts.join('; ') : ''}`,
      );
    }
  }
}

async function rewrite(
  g: Globals,
  file: string,
  o: { vm: string; output: string; check: boolean; lenient?: boolean },
): Promise<void> {
  const vm = vmName(o.vm);
  serverUrl(g);
  const { postFile, answerLine } = await import('../upload');
  const lib = await import('../inspect-file');
  const size = file === '-' ? undefined : lib.fileSize(file);
  if (o.check && size !== undefined) {
    const { startProgress } = await import('../progress');
    const p = await startProgress(size, 'check  ', g.progress);
    let info: StreamInfo;
    try {
      info = lib.inspectFile(file, (d) => p.update(d));
    } finally {
      p.done();
    }
    await checkRewrite(g, vm, info);
  }
  const toStdout = o.output === '-';
  if (toStdout && process.stdout.isTTY)
    throw new UsageError('the output is a binary stream: give -o OUT.mig or redirect stdout');
  const target = o.output;
  const part = `${target}.part`;
  const sink = toStdout ? process.stdout : fs.createWriteStream(part);
  if (!toStdout)
    await new Promise<void>((resolve, reject) => {
      sink.once('open', () => resolve());
      sink.once('error', (e: Error) => reject(new CliError(`${target}: ${e.message}`)));
    });
  let written: number;
  try {
    const a = await postFile(
      g,
      `v1/qemu-streams/rewrite?${new URLSearchParams({ vm })}`,
      file,
      'rewrite',
      sink,
      o.lenient ? { prefer: 'handling=lenient' } : {},
    );
    written = a.received;
    if (!toStdout)
      await new Promise<void>((resolve, reject) =>
        (sink as fs.WriteStream).end((e?: Error | null) =>
          e ? reject(new CliError(`${target}: ${e.message}`)) : resolve(),
        ),
      );
    if (a.status !== 200) throw new CliError(answerLine(a));
    const expected = size ?? a.sent;
    if (a.received !== expected)
      throw new CliError(`the server answered ${a.received} bytes for a ${expected}-byte stream`);
    if (!toStdout) fs.renameSync(part, target);
  } catch (e) {
    if (!toStdout) {
      (sink as fs.WriteStream).destroy();
      fs.rmSync(part, { force: true });
    }
    throw e;
  }
  if (!toStdout)
    g.out(
      g.json
        ? JSON.stringify({ file: target, bytes: written, vm })
        : `${target}: ${written} bytes, cpreg values of ${vm}.cpu<N> written in`,
    );
}
