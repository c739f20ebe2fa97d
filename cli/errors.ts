/** The two ways `cpreg` fails: exit 1 (an error: one line `cpreg: …`) and exit 2 (a usage error). */

/** The command line is wrong: exit 2, `cpreg: <message> (<hint>)`. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** Where the usage is explained (`cpreg --help`, `cpreg convert --help`); default the running command's. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Anything else that stops a command: exit 1, `cpreg: <message>`. */
export class CliError extends Error {}

/** Exit statuses (docs/cli.md). */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

/**
 * A failed connection as one line: fetch's TypeError (its `cause` carries the code) and the
 * errors of node:http alike.
 */
export function connectionError(url: string, e: unknown): Error {
  if (e instanceof CliError || e instanceof UsageError) return e;
  const err = e as (Error & { code?: string; cause?: { code?: string; message?: string } }) | undefined;
  if (err?.name === 'AbortError') return err;
  const code = err?.code ?? err?.cause?.code;
  if (code === 'ECONNREFUSED')
    return new CliError(`cannot connect to ${url} (connection refused; is the server running? --url or CPREG_URL)`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new CliError(`cannot connect to ${url} (no such host)`);
  const message = err?.cause?.message ?? err?.message ?? String(e);
  if (message === 'bad port')
    return new CliError(`cannot connect to ${url} (fetch refuses that port: a "bad port" of the Fetch standard)`);
  return new CliError(`${url}: ${message}`);
}
