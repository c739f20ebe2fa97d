/**
 * `cpreg` — cpreg-ledger from the command line (docs/cli.md): QEMU migration streams (inspect and
 * convert offline; import and rewrite through the service) and the whole API (vCPUs, registers,
 * syncs, blobs, history, the feed, the audit, host profiles, the compatibility matrix) through the
 * typed client (client/).
 *
 * Arguments are parsed by commander, one file per command group (cli/commands/*.ts). Start-up is
 * lazy: each command loads what it needs when it runs, so `cpreg inspect` loads no HTTP code.
 * Service: --url URL, else $CPREG_URL, else http://127.0.0.1:8080; token: --token, else
 * $CPREG_TOKEN. Exit status: 0 done, 1 error (one line `cpreg: …` on stderr), 2 usage error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, CommanderError, Help } from 'commander';
import { EXIT, UsageError } from './errors';
import {
  commandFactory,
  commanderMessage,
  commonOptions,
  hintOf,
  usageOf,
  type CommandFactory,
} from './commands/define';

export { inspectFile } from './inspect-file';

const OVERVIEW = `usage: cpreg <command> [options]

QEMU migration streams
  cpreg inspect FILE.mig|- [--json]                  offline: machine, page size, each vCPU's cpreg list
  cpreg import  FILE.mig|- --vm NAME [--accelerator tcg|kvm|hvf] [--label K=V]... [--json]
                                                     create, or load into, the vCPUs NAME.cpu<N>
  cpreg rewrite FILE.mig --vm NAME -o OUT.mig|- [--no-check]
                                                     FILE.mig with each vCPU's values from NAME.cpu<N>
  cpreg convert FILE.mig --to v23|v22 [-o OUT.mig|-]   offline: the cpu sections in the other layout

vCPUs and registers
  cpreg list [--label K=V]...                        the vCPUs, their machine type and labels
  cpreg create [ID] --accelerator kvm|tcg|hvf --register ID[,ID]... [--value REG=0xV]... [--label K=V]...
  cpreg create [ID] --accelerator tcg --from BLOB|- --format v22|v23
  cpreg get ID [--version N] [--arrays] [--grep TEXT]  the registers: id, name, size, slots, value
  cpreg set ID REG=0xVALUE... [--if-match VERSION] [--idempotency-key KEY]
  cpreg sync ID from-accelerator REG=0xV... [--failed REG]...  |  cpreg sync ID to-accelerator [--level L]
  cpreg export ID --format v22|v23 [-o FILE|-]       the migration blob (the export is recorded)
  cpreg load ID FILE|- --format v22|v23 [--check] [--if-match VERSION]
                                                     QEMU's merge; --check: the pre-flight, records nothing

History and audit
  cpreg history ID [--after VERSION] [--limit N]     the vCPU's events, what each changed
  cpreg diff ID --from N [--to M]                    the registers that differ between two versions
  cpreg events [--after POSITION] [--limit N] [--follow [--count N]]
                                                     the global feed; --follow: live (SSE, resumed)
  cpreg verify                                       the service's walk of its hash chain
  cpreg keygen --out KEY.pem                         an Ed25519 key for signed checkpoints
  cpreg audit export|verify|prove|replay …           offline audit of an export (cpreg audit --help)

Fleet
  cpreg profile put ID --from IDLE.mig|- --qemu 10.0 [--cpu-model M] [--label K=V]...
  cpreg profile put ID --accelerator tcg --qemu 10.0 --value REG=0xV... [--label K=V]...
  cpreg profile get ID [--version N]  |  cpreg profile list [--label K=V]...
  cpreg compat [ID] [--cpu ID | --cpu-label K=V]... [--profile ID | --profile-label K=V]...
                                                     the compatibility matrix: verdicts and reasons

Stores
  cpreg store copy --from sqlite:PATH --to postgres://…
                                                     an SQLite store into an empty PostgreSQL database, verified

Options of every command
  --url URL      the service (default $CPREG_URL, else http://127.0.0.1:8080; --server is the same)
  --token T      bearer token (default $CPREG_TOKEN)
  --json         what the API answers, as JSON (lists: one JSON object per line)
  -q, --quiet    no progress bar (shown on a terminal for files of 64 MiB and more)
  --progress     a progress bar even when stderr is not a terminal
  -V, --version  the version of cpreg
  -h, --help     this text; cpreg COMMAND --help: that command's

FILE - is stdin, -o - is stdout. Exit status: 0 ok, 1 error (one line on stderr), 2 usage error.`;

/** The package's version, from package.json beside the sources or beside dist/. */
function version(): string {
  for (const p of [path.resolve(__dirname, '../package.json'), path.resolve(__dirname, '../../package.json')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cpreg-ledger' && pkg.version) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return 'unknown';
}

/** The command running (its usage errors point to its help). */
let running: Command | null = null;

type Group = (define: CommandFactory, env: NodeJS.ProcessEnv) => void;

/**
 * The command groups, each loaded only when needed: `cpreg inspect big.mig` defines (and loads)
 * the stream commands alone. The names are the commands each group defines.
 */
const GROUPS: Array<{ names: readonly string[]; load: () => Promise<Group> }> = [
  {
    names: ['inspect', 'import', 'rewrite', 'convert'],
    load: async () => (await import('./commands/streams')).streamCommands,
  },
  {
    names: ['list', 'create', 'get', 'set', 'sync', 'diff', 'history'],
    load: async () => (await import('./commands/vcpus')).vcpuCommands,
  },
  { names: ['export', 'load'], load: async () => (await import('./commands/migration')).migrationCommands },
  { names: ['events', 'verify'], load: async () => (await import('./commands/events')).eventCommands },
  { names: ['profile', 'compat'], load: async () => (await import('./commands/fleet')).fleetCommands },
  { names: ['keygen', 'audit'], load: async () => (await import('./audit')).auditCommands },
  { names: ['store'], load: async () => (await import('./store')).storeCommands },
];

/**
 * The program: global options, then the commands — of the one group that defines `argv[0]`
 * when it names a command, else of every group (help, version, a typo's message).
 */
export async function program(env: NodeJS.ProcessEnv, argv: readonly string[] = []): Promise<Command> {
  const p = new Command('cpreg');
  p.exitOverride(usageOf('cpreg --help'))
    .configureOutput({
      writeOut: (s) => void process.stdout.write(s),
      writeErr: (s) => void process.stderr.write(s),
      // parse errors become one line `cpreg: … (hint)`, written by main
      outputError: () => undefined,
    })
    .configureHelp({
      formatHelp: (cmd, helper) =>
        cmd.parent ? Help.prototype.formatHelp.call(helper, cmd, helper).replace(/^Usage:/, 'usage:') : OVERVIEW + '\n',
    })
    .version(version(), '-V, --version', 'the version of cpreg')
    .helpOption('-h, --help', 'this text')
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .hook('preAction', (_p, action) => {
      running = action;
    });
  commonOptions(p);
  const define = commandFactory(p);
  const first = argv[0];
  const one = GROUPS.find((g) => first !== undefined && g.names.includes(first));
  for (const g of one ? [one] : GROUPS) (await g.load())(define, env);
  return p;
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // `cpreg inspect big.mig | head`: a closed stdout is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  try {
    if (argv.length === 0) throw new UsageError('a command is required (inspect, import, get, set, …)');
    await (await program(env, argv)).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return EXIT.ok; // --help, --version
    const usage = e instanceof UsageError || e instanceof CommanderError;
    const msg = e instanceof CommanderError ? commanderMessage(e) : e instanceof Error ? e.message : String(e);
    const hint = e instanceof UsageError ? (e.hint ?? hintOf(running)) : 'cpreg --help';
    process.stderr.write(`cpreg: ${msg.replace(/\s*\n\s*/g, ' ')}${usage ? ` (${hint})` : ''}\n`);
    return usage ? EXIT.usage : EXIT.error;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
