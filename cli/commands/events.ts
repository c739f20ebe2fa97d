/**
 * The global feed and the audit: `events` (pages of `GET /v1/events`; `--follow` keeps reading it
 * as Server-Sent Events and resumes with Last-Event-ID after a dropped connection) and `verify`
 * (the service's walk of its hash chain, `GET /v1/audit/verify`).
 */
import type { Command } from 'commander';
import type { CpregEvent } from '../../client';
import { connect, globalsOf, intArg, printJson, table, type Globals } from '../context';
import { CliError } from '../errors';
import type { CommandFactory } from './define';

export function eventCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  define('events')
    .usage('[--after POSITION] [--limit N] [--follow [--count N]] [--json]')
    .description('Every event of the service after a position; --follow: as they are committed (SSE, resumed).')
    .option('--after <position>', 'start after this global position (default 0)', intArg(0))
    .option('--limit <n>', 'without --follow: at most N events (default all)', intArg(1))
    .option('--follow', 'keep reading: each event as it is committed; a dropped connection is resumed')
    .option('--count <n>', 'with --follow: stop after N events', intArg(1))
    .action(async (o: EventsOptions, cmd: Command) => events(globalsOf(cmd, env), o));

  define('verify')
    .description("The service's walk of its hash chain (GET /v1/audit/verify): exit 0 when it holds, 1 when not.")
    .action(async (_o: unknown, cmd: Command) => verify(globalsOf(cmd, env)));
}

interface EventsOptions {
  after?: number;
  limit?: number;
  follow?: boolean;
  count?: number;
}

function eventLine(e: CpregEvent): string[] {
  return [
    String(e.position),
    e.metadata.recordedAt ?? '-',
    `${e.streamId}@${e.version}`,
    e.type,
    e.metadata.actor ?? '-',
    e.metadata.correlationId ?? '-',
  ];
}

async function events(g: Globals, o: EventsOptions): Promise<void> {
  const api = await connect(g);
  const lib = await import('../../client');
  const print = (e: CpregEvent) => g.out(g.json ? JSON.stringify(e) : eventLine(e).join('  '));
  if (o.follow) {
    if (o.limit !== undefined) {
      const { UsageError } = await import('../errors');
      throw new UsageError('--limit is for a page; with --follow use --count', 'cpreg events --help');
    }
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let n = 0;
    try {
      for await (const e of lib.followFeed(api, {
        after: o.after ?? 0,
        signal: stop.signal,
        onReconnect: (after, reason) =>
          process.stderr.write(
            `cpreg: the feed was cut (${reason instanceof Error ? reason.message : String(reason)}); resuming after ${after}\n`,
          ),
      })) {
        print(e);
        if (o.count !== undefined && ++n >= o.count) break;
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return;
  }
  if (o.count !== undefined) {
    const { UsageError } = await import('../errors');
    throw new UsageError('--count is for --follow; a page takes --limit', 'cpreg events --help');
  }
  let after = o.after ?? 0;
  let left = o.limit ?? Infinity;
  const rows: string[][] = [['POSITION', 'TIME', 'STREAM@VERSION', 'TYPE', 'ACTOR', 'CORRELATION']];
  for (let page = 0; left > 0 && page < 1_000_000; page++) {
    const p = lib.unwrap(await api.GET('/v1/events', { params: { query: { after, limit: Math.min(1000, left) } } }));
    for (const e of p.events) {
      if (g.json) print(e);
      else rows.push(eventLine(e));
    }
    left -= p.events.length;
    if (p.next === null || p.next === undefined || p.events.length === 0) break;
    after = p.next;
  }
  if (!g.json) table(rows).forEach((l) => g.out(l));
}

async function verify(g: Globals): Promise<void> {
  const api = await connect(g);
  const { unwrap } = await import('../../client');
  const v = unwrap(await api.GET('/v1/audit/verify'));
  if (g.json) printJson(g, v);
  else if (v.ok) g.out(`the hash chain holds: ${v.events} events, head hash ${v.headHash}`);
  if (!v.ok)
    throw new CliError(
      `the hash chain is broken at position ${v.firstBrokenPosition ?? '?'}${v.reason ? `: ${v.reason}` : ''} (${v.events} events)`,
    );
}
