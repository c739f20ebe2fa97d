/**
 * What every command shares: the global options (`--url`, `--token`, `--json`, `--quiet`,
 * `--progress`) with their environment defaults, the typed client (loaded only by the commands
 * that talk to the service), and reading/writing FILE or `-`.
 */
import * as fs from 'fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { CpregClient } from '../client';
import { CliError, UsageError, connectionError } from './errors';
import type { ProgressMode } from './progress';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface Globals {
  /** The service (`--url`, else $CPREG_URL, else http://127.0.0.1:8080). */
  url: string;
  /** Bearer token (`--token`, else $CPREG_TOKEN). */
  token?: string;
  json: boolean;
  progress: ProgressMode;
  out: (line: string) => void;
}

interface GlobalFlags {
  url?: string;
  server?: string;
  token?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
}

export function globalsOf(cmd: Command, env: NodeJS.ProcessEnv): Globals {
  const o = cmd.optsWithGlobals<GlobalFlags>();
  return {
    url: o.url ?? o.server ?? (env.CPREG_URL || DEFAULT_URL),
    ...(o.token || env.CPREG_TOKEN ? { token: o.token ?? env.CPREG_TOKEN } : {}),
    json: o.json === true,
    progress: o.quiet ? 'off' : o.progress ? 'on' : 'auto',
    out: (line) => void process.stdout.write(line + '\n'),
  };
}

/** The service's URL, checked (a usage error: it is what the user typed). */
export function serverUrl(g: Globals): URL {
  let url: URL;
  try {
    url = new URL(g.url);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(g.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must be an http:// or https:// URL, got ${JSON.stringify(g.url)}`);
  return url;
}

/** The typed client (client/), loaded on first use; a failed connection becomes one line. */
export async function connect(g: Globals): Promise<CpregClient> {
  serverUrl(g);
  const { createCpregClient } = await import('../client');
  return createCpregClient(g.url, {
    ...(g.token ? { token: g.token } : {}),
    fetch: async (req) => {
      try {
        return await fetch(req);
      } catch (e) {
        throw connectionError(g.url, e);
      }
    },
  });
}

/** The bytes of FILE, or of stdin for `-`. */
export async function readInput(file: string): Promise<Uint8Array> {
  if (file === '-') {
    if (process.stdin.isTTY) throw new UsageError('- reads stdin, which is a terminal: give a FILE or redirect stdin');
    const parts: Buffer[] = [];
    for await (const c of process.stdin) parts.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
    return Buffer.concat(parts);
  }
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(
      `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'not a regular file' : err.message}`,
    );
  }
}

/**
 * Writes bytes to FILE (as FILE.part, renamed when complete, so a failure leaves FILE as it was)
 * or to stdout for `-` (refused on a terminal: it is binary).
 */
export async function writeOutput(file: string, bytes: Uint8Array): Promise<void> {
  if (file === '-') {
    if (process.stdout.isTTY) throw new UsageError('the output is binary: give -o FILE or redirect stdout');
    await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
    return;
  }
  const part = `${file}.part`;
  try {
    fs.writeFileSync(part, bytes);
    fs.renameSync(part, file);
  } catch (e) {
    fs.rmSync(part, { force: true });
    throw new CliError(`${file}: ${(e as Error).message}`);
  }
}

/** `key=value` options (labels, selectors) into an object; a usage error names the bad one. */
export function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`${what} must be KEY=VALUE, got ${JSON.stringify(kv)}`);
    o[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return o;
}

/** Commander's collector for a repeatable option. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** An integer option (`--version 3`), for commander's argParser: a usage error otherwise. */
export function intArg(min = 0) {
  return (v: string): number => {
    if (!/^\d{1,15}$/.test(v) || Number(v) < min)
      throw new InvalidArgumentError(`an integer${min ? ` from ${min}` : ''} is needed.`);
    return Number(v);
  };
}

/** Prints JSON (pretty) to stdout. */
export function printJson(g: Globals, value: unknown): void {
  g.out(JSON.stringify(value, null, 2));
}

/** Columns padded to their widest cell (the last one is not padded). */
export function table(rows: string[][], indent = ''): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '));
}
