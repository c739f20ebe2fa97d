/**
 * Migration blobs: `export` (GET …/migration, recorded in the history with its sha256) and `load`
 * (PUT …/migration with QEMU's merge rules; `--check` is the pre-flight, POST …/migration/check,
 * which records nothing). FILE or `-` for stdin/stdout.
 */
import { Option, type Command } from 'commander';
import type { Finding, LoadReport } from '../../client';
import { connect, globalsOf, printJson, readInput, writeOutput, type Globals } from '../context';
import type { CommandFactory } from './define';
import { shownName } from './vcpus';

export function migrationCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  define('export')
    .usage('ID --format v22|v23 [-o FILE|-]')
    .description('Export the cpreg block as a QEMU migration blob (the export is recorded: who, when, sha256).')
    .argument('<id>', 'the vCPU')
    .addOption(new Option('--format <format>', 'the blob format').choices(['v22', 'v23']).makeOptionMandatory())
    .option('-o, --output <file>', 'where to write it (written as FILE.part, renamed when complete); - or none: stdout')
    .action(async (id: string, o: { format: 'v22' | 'v23'; output?: string }, cmd: Command) =>
      exportBlob(globalsOf(cmd, env), id, o),
    );

  define('load')
    .usage('ID FILE|- --format v22|v23 [--check] [--if-match VERSION] [--idempotency-key KEY] [--json]')
    .description(
      "Load a blob into a vCPU with QEMU's merge rules; --check: the pre-flight (a dry run, records nothing).",
    )
    .argument('<id>', 'the vCPU')
    .argument('<file>', 'the blob (- reads stdin)')
    .addOption(new Option('--format <format>', 'the blob format').choices(['v22', 'v23']).makeOptionMandatory())
    .option('--check', 'only the pre-flight: what the load would do, and its warnings')
    .option('--if-match <version>', 'only if the vCPU is at this version')
    .option('--idempotency-key <key>', 'a repeat with this key answers the first answer and records nothing')
    .action(async (id: string, file: string, o: LoadOptions, cmd: Command) => load(globalsOf(cmd, env), id, file, o));
}

interface LoadOptions {
  format: 'v22' | 'v23';
  check?: boolean;
  ifMatch?: string;
  idempotencyKey?: string;
}

async function exportBlob(g: Globals, id: string, o: { format: 'v22' | 'v23'; output?: string }): Promise<void> {
  const api = await connect(g);
  const lib = await import('../../client');
  const out = o.output ?? '-';
  if (out === '-' && process.stdout.isTTY) {
    const { UsageError } = await import('../errors');
    throw new UsageError('the blob is binary: give -o FILE or redirect stdout', 'cpreg export --help');
  }
  const blob = await lib.exportBlob(api, id, o.format);
  await writeOutput(out, blob.bytes);
  if (out !== '-')
    g.out(
      g.json
        ? JSON.stringify({
            file: out,
            id,
            format: o.format,
            byteLength: blob.bytes.length,
            sha256: blob.sha256,
            version: blob.version,
          })
        : `${out}: ${blob.bytes.length} bytes, ${o.format} blob of ${id} at version ${blob.version}, sha256 ${blob.sha256}`,
    );
}

async function load(g: Globals, id: string, file: string, o: LoadOptions): Promise<void> {
  const bytes = await readInput(file);
  const api = await connect(g);
  const lib = await import('../../client');
  const report = await lib.loadBlob(api, id, o.format, bytes, {
    ...(o.check ? { dryRun: true } : {}),
    ...(o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {}),
    ...(o.idempotencyKey !== undefined ? { idempotencyKey: o.idempotencyKey } : {}),
  });
  if (g.json) return printJson(g, report);
  printReport(g, id, report);
}

export function printReport(g: Globals, id: string, r: LoadReport): void {
  const head = r.dryRun
    ? `${id}: check of a ${r.format} blob (nothing recorded): would update ${r.updated.length}, change ${r.changed.length}, keep ${r.kept.length}`
    : `${r.id ?? id}: loaded a ${r.format} blob, version ${r.version}: ${r.updated.length} updated, ${r.changed.length} changed, ${r.kept.length} kept`;
  g.out(head);
  for (const c of r.changed) g.out(`  changed ${shownName(c)} = ${c.value}`);
  for (const w of r.warnings) g.out(`  warning: ${warningLine(w)}`);
  if (r.verdict) g.out(`  QEMU's verdict: ${r.verdict}`);
  for (const f of r.reasons ?? []) g.out(`  refused: ${findingLine(f)}`);
}

/** One finding: its rule, message and registers (name, incoming → what the destination holds or keeps). */
export function findingLine(f: Finding): string {
  const regs = f.registers.map((x) => {
    const parts = [
      x.incoming && `incoming ${x.incoming}`,
      x.destination && `holds ${x.destination}`,
      x.kept && `keeps ${x.kept}`,
      x.becomes && `becomes ${x.becomes}`,
      x.overwrittenByName && `overwritten by ${x.overwrittenByName}`,
    ].filter(Boolean);
    return parts.length ? `${x.name} (${parts.join(', ')})` : x.name;
  });
  const more = f.count > f.registers.length ? ` and ${f.count - f.registers.length} more` : '';
  return `${f.rule}: ${f.message}${regs.length ? ': ' + regs.join('; ') : ''}${more}`;
}

function warningLine(w: LoadReport['warnings'][number]): string {
  return 'rule' in w ? findingLine(w) : `${w.name}: ${w.message}`;
}
