/**
 * `cpreg keygen` and `cpreg audit …` (docs/audit.md): the auditor's tools. `export` writes every
 * event with the bytes its leaf and chain hash cover (JSON lines, streamed, resumable) from a
 * running service or from a copy of the SQLite database; `verify`, `prove` and `replay` need no
 * service: they recompute the chain, the Merkle tree and the checkpoint's signature, and fold a
 * vCPU with the project's own domain code.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { CliError, UsageError } from './errors';
import { connect, globalsOf, printJson, type Globals } from './context';
import { group, subcommand, type CommandFactory } from './commands/define';

export function auditCommands(define: CommandFactory, env: NodeJS.ProcessEnv): void {
  define('keygen')
    .description('A new Ed25519 signing key for checkpoints (CPREG_SIGNING_KEY_FILE), and its public key.')
    .requiredOption('--out <file>', 'the private key (PEM, mode 0600); the public key goes to FILE.pub')
    .action(async (o: { out: string }, cmd: Command) => keygen(globalsOf(cmd, env), o.out));

  const audit = group(
    define('audit').description(
      'Offline audit of an export: verify, prove, replay; export from the service or a database.',
    ),
    ['export', 'verify', 'prove', 'replay'],
  );
  subcommand(audit, 'export')
    .description('Every event with what its leaf hash covers, as JSON lines; resumes a partial FILE.')
    .option('--db <path>', 'a copy of the SQLite database (instead of --url)')
    .requiredOption('--out <file>', 'the export (appended to when it exists: resumed)')
    .action(async (o: { db?: string; out: string }, cmd: Command) => exportLog(globalsOf(cmd, env), o));
  subcommand(audit, 'verify')
    .argument('<file>', 'an export')
    .description('Recompute chain, tree and signature: exit 0 intact, 1 not (naming the first bad position).')
    .requiredOption('--key <pub.pem>', 'the public key the checkpoint is signed with')
    .requiredOption('--checkpoint <cp.json>', 'a checkpoint taken earlier (GET /v1/audit/checkpoints/latest)')
    .action(async (file: string, o: { key: string; checkpoint: string }, cmd: Command) =>
      verifyCmd(globalsOf(cmd, env), file, o),
    );
  subcommand(audit, 'prove')
    .argument('<file>', 'an export')
    .description("One event's inclusion in the checkpoint's tree (RFC 9162), computed from the export and checked.")
    .requiredOption('--position <p>', 'the event')
    .requiredOption('--key <pub.pem>', 'the public key')
    .requiredOption('--checkpoint <cp.json>', 'the checkpoint')
    .action(async (file: string, o: { position: string; key: string; checkpoint: string }, cmd: Command) =>
      prove(globalsOf(cmd, env), file, o),
    );
  subcommand(audit, 'replay')
    .argument('<file>', 'an export')
    .description("A vCPU's state at a version or a time, folded from the export by the domain's own code.")
    .requiredOption('--cpu <id>', 'the vCPU')
    .requiredOption('--at <version|time>', 'a version (1, 2 …) or an ISO-8601 time')
    .option('--view <view>', 'arrays (GET /v1/cpus/{id}/arrays) or state (GET /v1/cpus/{id})', 'arrays')
    .option('--blob <format>', 'write the migration blob (v22 or v23) instead of the arrays')
    .option('-o, --output <file>', 'where the blob goes (default stdout)')
    .action(async (file: string, o: ReplayOptions, cmd: Command) => replay(globalsOf(cmd, env), file, o));
}

async function keygen(g: Globals, out: string): Promise<void> {
  const { generateSigningKey } = await import('../storage/audit/checkpoint');
  const k = generateSigningKey();
  fs.writeFileSync(out, k.privatePem, { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(out + '.pub', k.publicPem);
  if (g.json) printJson(g, { keyId: k.keyId, privateKey: out, publicKey: out + '.pub' });
  else g.out(`key ${k.keyId}: private ${out}, public ${out}.pub`);
}

/** The last complete line's position; a partial last line is cut off (a resumed export). */
function resumePoint(file: string): number {
  if (!fs.existsSync(file)) return 0;
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    let cut = -1;
    // the last '\n': everything after it is a partial line
    for (let at = size; at > 0 && cut < 0;) {
      const start = Math.max(0, at - chunk.length);
      fs.readSync(fd, chunk, 0, at - start, start);
      const i = chunk.subarray(0, at - start).lastIndexOf(10);
      if (i >= 0) cut = start + i + 1;
      at = start;
    }
    if (cut < 0) cut = 0;
    if (cut < end) fs.ftruncateSync(fd, cut);
    end = cut;
    if (end === 0) return 0;
    // the line before it: its position
    let lineStart = 0;
    for (let at = end - 1; at > 0;) {
      const start = Math.max(0, at - chunk.length);
      fs.readSync(fd, chunk, 0, at - start, start);
      const i = chunk.subarray(0, at - start).lastIndexOf(10);
      if (i >= 0) {
        lineStart = start + i + 1;
        break;
      }
      at = start;
    }
    const head = Buffer.alloc(Math.min(64, end - lineStart));
    fs.readSync(fd, head, 0, head.length, lineStart);
    const m = /^\{"position":(\d+),/.exec(head.toString('utf8'));
    if (!m) throw new CliError(`${file} is not an export (its last line has no position)`);
    return Number(m[1]);
  } finally {
    fs.closeSync(fd);
  }
}

async function exportLog(g: Globals, o: { db?: string; out: string }): Promise<void> {
  const { exportLine } = await import('../storage/audit/export');
  const { canonicalEventText, canonicalJson } = await import('../storage/canonical');
  const after = resumePoint(o.out);
  const out = fs.createWriteStream(o.out, { flags: 'a' });
  let buf = '';
  let n = 0;
  const flush = async () => {
    if (!buf) return;
    const ok = out.write(buf);
    buf = '';
    if (!ok) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  try {
    if (o.db) {
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(o.db, { readonly: true, fileMustExist: true });
      try {
        // SQLite composes each line in its query: the stored texts are the canonical bytes, so
        // they are copied as they are instead of turned into JS values and joined again (a third
        // of the CPU time); json_quote escapes as JSON.stringify does (canonicalEventText's).
        // From the start, every row: one slipped in at position 0 or below is served by reads of
        // its stream, so it must reach verify (which refuses it) rather than be skipped.
        const lines = db
          .prepare(
            `SELECT '{"position":' || position || ',"hash":"' || lower(hex(hash)) || '","event":{"data":' || data ||
              ',"metadata":' || metadata || ',"position":' || position || ',"schemaVersion":' || schema_version ||
              ',"streamId":' || json_quote(stream_id) || ',"type":' || json_quote(type) || ',"version":' || version ||
              '}}' || char(10) FROM events WHERE position > ? ORDER BY position`,
          )
          .pluck()
          .iterate(after === 0 ? Number.MIN_SAFE_INTEGER : after) as IterableIterator<string>;
        for (const line of lines) {
          buf += line;
          n++;
          if (buf.length > 1 << 20) await flush();
        }
      } finally {
        db.close();
      }
    } else {
      const api = await connect(g);
      const { unwrap } = await import('../client');
      let pos = after;
      for (let page = 0; page < 1e9; page++) {
        const p = unwrap(await api.GET('/v1/events', { params: { query: { after: pos, limit: 1000 } } }));
        for (const e of p.events) {
          buf += exportLine(
            e.position,
            e.hash,
            canonicalEventText({ ...e, dataText: canonicalJson(e.data), metadataText: canonicalJson(e.metadata) }),
          );
          n++;
          pos = e.position;
        }
        await flush();
        if (p.next === null || p.next === undefined || p.events.length === 0) break;
      }
    }
    await flush();
  } finally {
    await new Promise<void>((r) => out.end(() => r()));
  }
  if (g.json) printJson(g, { resumedAfter: after, events: n, out: o.out });
  else g.out(`${n} events written to ${o.out}${after ? ` (resumed after position ${after})` : ''}`);
}

async function loadTrust(o: { key: string; checkpoint: string }) {
  const { parseCheckpoint, publicKeyFromPem } = await import('../storage/audit/checkpoint');
  let key;
  try {
    key = publicKeyFromPem(fs.readFileSync(o.key));
  } catch (e) {
    throw new CliError(`${o.key}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(JSON.parse(fs.readFileSync(o.checkpoint, 'utf8')));
  } catch (e) {
    throw new CliError(`${o.checkpoint}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { key, checkpoint };
}

async function verifyCmd(g: Globals, file: string, o: { key: string; checkpoint: string }): Promise<void> {
  const { key, checkpoint } = await loadTrust(o);
  const { verifyExport } = await import('../storage/audit/export');
  const v = await verifyExport(file, key, checkpoint);
  if (g.json) printJson(g, v);
  else if (v.ok) g.out(v.detail);
  if (!v.ok) throw new CliError(`audit: first bad position ${v.firstBadPosition}: ${v.detail}`);
}

async function prove(
  g: Globals,
  file: string,
  o: { position: string; key: string; checkpoint: string },
): Promise<void> {
  const { key, checkpoint } = await loadTrust(o);
  const { checkpointSignatureValid } = await import('../storage/audit/checkpoint');
  const { exportEntries } = await import('../storage/audit/export');
  const { MerkleTree, leafHash, verifyInclusion } = await import('../storage/audit/merkle');
  const position = Number(o.position);
  if (!Number.isSafeInteger(position) || position < 1 || position > checkpoint.treeSize)
    throw new UsageError(
      `--position must be within 1..${checkpoint.treeSize} (the checkpoint's tree)`,
      'cpreg audit prove --help',
    );
  if (!checkpointSignatureValid(checkpoint, key))
    throw new CliError("the checkpoint's signature does not hold under the key");
  const tree = new MerkleTree();
  for await (const e of exportEntries(file)) {
    if ('bad' in e || e.position !== tree.size + 1)
      throw new CliError(`the export is broken at position ${tree.size + 1}`);
    tree.appendLeafHash(leafHash(e.text));
    if (tree.size === checkpoint.treeSize) break;
  }
  if (tree.size < checkpoint.treeSize)
    throw new CliError(`the export ends at ${tree.size}, before the checkpoint's ${checkpoint.treeSize}`);
  const leaf = tree.leafHashAt(position - 1);
  const proof = tree.inclusionProof(position - 1, checkpoint.treeSize);
  const ok = verifyInclusion(position - 1, checkpoint.treeSize, leaf, proof, Buffer.from(checkpoint.rootHash, 'hex'));
  const answer = {
    position,
    leafIndex: position - 1,
    treeSize: checkpoint.treeSize,
    leafHash: leaf.toString('hex'),
    rootHash: checkpoint.rootHash,
    proof: proof.map((b) => b.toString('hex')),
    ok,
  };
  if (g.json) printJson(g, answer);
  else g.out(ok ? `event ${position} is in the signed tree of ${checkpoint.treeSize} events` : 'NOT included');
  if (!ok) throw new CliError(`audit: event ${position} is not in the tree the checkpoint signed`);
}

interface ReplayOptions {
  cpu: string;
  at: string;
  view: string;
  blob?: string;
  output?: string;
}

async function replay(g: Globals, file: string, o: ReplayOptions): Promise<void> {
  const { deserializeEvent, foldEvents } = await import('../domain/vcpu');
  const { isBlobFormat } = await import('../domain/vmstate/format');
  const { exportBlob } = await import('../domain/vcpu');
  const { arraysView, stateView } = await import('../api/views');
  const { exportEntries } = await import('./../storage/audit/export');
  type VcpuState = NonNullable<ReturnType<typeof foldEvents>>;
  const byVersion = /^\d+$/.test(o.at);
  const time = byVersion ? undefined : Date.parse(o.at);
  if (!byVersion && (time === undefined || Number.isNaN(time)))
    throw new UsageError('--at must be a version or an ISO-8601 time', 'cpreg audit replay --help');
  if (o.blob !== undefined && !isBlobFormat(o.blob))
    throw new UsageError('--blob must be v22 or v23', 'cpreg audit replay --help');
  if (o.view !== 'arrays' && o.view !== 'state')
    throw new UsageError('--view must be arrays or state', 'cpreg audit replay --help');
  let state: VcpuState | undefined;
  let version = 0;
  for await (const e of exportEntries(file)) {
    if ('bad' in e) throw new CliError(`line ${e.bad} is not an export line`);
    // the stream id sits in the canonical bytes; most lines are another stream's
    if (!e.text.includes(JSON.stringify(o.cpu))) continue;
    const ev = JSON.parse(e.text) as {
      streamId: string;
      version: number;
      type: string;
      schemaVersion: number;
      data: unknown;
      metadata: { recordedAt?: string };
    };
    if (ev.streamId !== o.cpu) continue;
    if (byVersion ? ev.version > Number(o.at) : Date.parse(ev.metadata.recordedAt ?? '') > time!) break;
    state = foldEvents(state, [deserializeEvent(ev.type, ev.schemaVersion, ev.data)]);
    version = ev.version;
  }
  if (!state || (byVersion && version !== Number(o.at)))
    throw new CliError(`vCPU ${o.cpu} has no version ${o.at} in ${file}`);
  if (o.blob !== undefined && isBlobFormat(o.blob)) {
    const bytes = exportBlob(state, o.blob);
    if (o.output && o.output !== '-') fs.writeFileSync(o.output, bytes);
    else process.stdout.write(bytes);
    return;
  }
  // the very bytes the service answers (express's res.json is JSON.stringify)
  const view = o.view === 'state' ? stateView(o.cpu, version, state) : arraysView(o.cpu, version, state);
  g.out(JSON.stringify(view));
}
