/**
 * `cpreg store copy --from sqlite:PATH --to postgres://…` (docs/storage.md, "Moving a store"):
 * every event, snapshot and idempotency key of an SQLite store into an empty PostgreSQL
 * database, positions and hashes intact, verified afterwards. Offline from the service: it
 * reads the SQLite file (read-only, one read transaction) and writes the database directly.
 */
import type { Command } from 'commander';
import { CliError, UsageError } from './errors';
import { globalsOf, printJson } from './context';
import { group, subcommand, type CommandFactory } from './commands/define';

export function storeCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  const store = group(define('store').description('Moving an event store between backends.'), ['copy']);
  subcommand(store, 'copy')
    .description(
      'Copy an SQLite store into an empty PostgreSQL database (positions, hashes, snapshots, keys), then verify it.',
    )
    .requiredOption('--from <source>', 'sqlite:PATH, the SQLite database file')
    .requiredOption('--to <url>', 'postgres://user:password@host:port/database, an empty (or new) database')
    .action(async (o: { from: string; to: string }, cmd: Command) => copy(globalsOf(cmd, env), o));
}

async function copy(g: ReturnType<typeof globalsOf>, o: { from: string; to: string }): Promise<void> {
  const m = /^sqlite:(.+)$/.exec(o.from);
  if (!m) throw new UsageError(`--from must be sqlite:PATH, got ${JSON.stringify(o.from)}`);
  if (!/^postgres(ql)?:\/\/\S+$/.test(o.to)) throw new UsageError('--to must be a postgres:// URL');
  const file = m[1]!;
  const { copySqliteToPostgres } = await import('../storage/postgres/copy');
  const { redactUrl } = await import('../storage/postgres/db');
  const to = redactUrl(o.to);
  let report;
  try {
    report = await copySqliteToPostgres(file, o.to, { startTimeoutMs: 5000 });
  } catch (e) {
    if (e instanceof Error) throw new CliError(`store copy: ${e.message}`);
    throw e;
  }
  if (g.json) printJson(g, { from: file, to, ...report });
  else
    g.out(
      `copied ${report.events} events (positions 1..${report.headPosition}), ${report.streams} streams, ` +
        `${report.snapshots} snapshots, ${report.idempotencyKeys} idempotency keys from ${file} to ${to}; ` +
        `verify ok, head ${report.headHash}`,
    );
}
