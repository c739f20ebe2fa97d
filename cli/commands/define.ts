/**
 * How each command is declared: a commander subcommand whose parse errors become a UsageError
 * naming the help to read (`cpreg: unknown option '--bogus' (cpreg --help)`, exit 2).
 */
import { CommanderError, Option, type Command } from 'commander';
import { UsageError } from '../errors';

export type CommandFactory = (nameAndArgs: string, o?: { hint?: string }) => Command;

/** The help each command's usage errors point to. */
const hints = new WeakMap<Command, string>();

/** The hint of a command (its own, else its parent's), for usage errors found while it runs. */
export function hintOf(cmd: Command | null): string {
  for (let c = cmd; c; c = c.parent) {
    const h = hints.get(c);
    if (h) return h;
  }
  return 'cpreg --help';
}

/**
 * The options every command takes (the program takes them too, before the command name), so
 * `cpreg get ID --version 3` is the vCPU's version and `cpreg --version` the program's.
 */
export function commonOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'the service (default $CPREG_URL, else http://127.0.0.1:8080)')
    .addOption(new Option('--server <url>', 'the same as --url').hideHelp())
    .option('--token <token>', 'bearer token (default $CPREG_TOKEN)')
    .option('--json', 'what the API answers, as JSON (lists: one object per line)')
    .option('-q, --quiet', 'no progress bar')
    .option('--progress', 'a progress bar even when stderr is not a terminal');
}

/** Commander's message without its `error: ` prefix, on one line. */
export function commanderMessage(e: CommanderError): string {
  return e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
}

/** Rethrows help and --version (exit 0) as they are, any other parse error as a UsageError. */
export function usageOf(hint: string) {
  return (e: CommanderError): never => {
    if (e.exitCode === 0) throw e;
    throw new UsageError(commanderMessage(e), hint);
  };
}

export function commandFactory(program: Command): CommandFactory {
  return (nameAndArgs, o = {}) => {
    const name = nameAndArgs.split(' ')[0]!;
    const hint = o.hint ?? `cpreg ${name} --help`;
    const cmd = commonOptions(program.command(nameAndArgs));
    hints.set(cmd, hint);
    cmd.exitOverride(usageOf(hint));
    return cmd;
  };
}

/** A subcommand of a group (`cpreg profile put`), with the common options. */
export function subcommand(parent: Command, nameAndArgs: string): Command {
  const cmd = commonOptions(parent.command(nameAndArgs));
  const hint = `${hintOf(parent).replace(/ --help$/, '')} ${nameAndArgs.split(' ')[0]} --help`;
  hints.set(cmd, hint);
  cmd.exitOverride(usageOf(hint));
  return cmd;
}

/** A command group (`cpreg profile`): without its subcommand, a usage error listing them. */
export function group(cmd: Command, subcommands: string[]): Command {
  const name = cmd.name();
  return cmd.action(() => {
    throw new UsageError(`${name} needs a subcommand: ${subcommands.join(', ')}`, `cpreg ${name} --help`);
  });
}

export { CommanderError };
