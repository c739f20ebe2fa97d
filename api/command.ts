import type { Request, Response } from 'express';
import type { VcpuDecided } from '../app/vcpu-aggregate';
import type { VcpuCommand } from '../domain/vcpu';
import type { AppContext } from './context';
import { piece, utf8Text, type ByteWriter } from './byte-writer';
import { findingView, writeFindings } from './finding-view';
import { etagOf, idempotencyOf, metadataOf, versionCondition } from './request-meta';

/** What a write route answers (kept whole with an Idempotency-Key and sent again to a repeat). */
export interface Rendered {
  status: number;
  /** The body; a route that writes its JSON itself gives `text` instead (an object's text). */
  body?: unknown;
  /** JSON.stringify of the body, written by the route (a sync's answer names hundreds of values). */
  text?: string;
  /**
   * That text's UTF-8 bytes instead, written by a route as bytes: only for the fast lane (an
   * answer kept with an Idempotency-Key is a text).
   */
  bytes?: Uint8Array;
  headers?: Record<string, string>;
}

/** The answer's JSON text. */
export const bodyText = (r: Rendered): string => r.text ?? (r.bytes ? utf8Text(r.bytes) : JSON.stringify(r.body));
/**
 * A route's answer from what was decided. `last`, when given, writes a member (`"warnings":[…]`)
 * that a route writing its own bytes places as its object's last key; a route that gives a body
 * leaves it to answerOf (and never writes it).
 */
export type Render = (decided: VcpuDecided, last?: (w: ByteWriter) => void) => Rendered;

/**
 * A write route's one call: the command on one vCPU with the request's conditions
 * (If-Match, If-None-Match), Idempotency-Key and metadata; the answer rendered from what was
 * decided, or the first answer again for a repeat.
 */
export async function runCommand(
  ctx: AppContext,
  req: Request,
  res: Response,
  id: string,
  command: VcpuCommand,
  render: Render,
): Promise<void> {
  const condition = versionCondition(req);
  const idempotency = idempotencyOf(req);
  const handling = preferredHandling(req);
  const advised = isAdvised(command);
  const out = await ctx.service.execute([{ streamId: id, command, ...(condition ? { condition } : {}) }], {
    metadata: metadataOf(req, res),
    ...(idempotency ? { idempotency } : {}),
    ...(handling === 'strict' ? { strict: true } : {}),
    answer: answerOf(render, advised),
  });
  if (handling) res.set('Preference-Applied', `handling=${handling}`);
  send(res, out.answer, out.replayed);
}

/** A write's answer says what the vCPU's own QEMU would make of the values (warnings). */
export const isAdvised = (command: VcpuCommand) =>
  command.type === 'WriteRegisters' || command.type === 'SyncFromAccelerator';

/** The service's answer for one command: the route's rendering, with the warnings if advised. */
export function answerOf(render: Render, advised: boolean): (decided: readonly VcpuDecided[]) => Rendered {
  return (decided) => {
    const d = decided[0]!; // one command, one decision
    if (!advised) return render(d);
    // as the spread below places it: the text's last key (not spliced in after: that copies the text)
    const r = render(d, (w) => {
      w.bytes(piece('"warnings":'));
      writeFindings(w, d.state, d.warnings);
    });
    if (r.text !== undefined || r.bytes !== undefined) return r;
    return { ...r, body: { ...(r.body as object), warnings: d.warnings.map((f) => findingView(d.state, f)) } };
  };
}

/** RFC 7240's `handling` preference (`Prefer: handling=strict`), if the request states one. */
export function preferredHandling(req: Request): 'strict' | 'lenient' | undefined {
  const raw = req.headers.prefer;
  const header = Array.isArray(raw) ? raw.join(',') : raw;
  if (!header) return undefined;
  for (const pref of header.split(',')) {
    const [name, value] = (pref.split(';')[0] ?? '')
      .split('=')
      .map((t) => t.trim().toLowerCase().replace(/^"|"$/g, ''));
    if (name === 'handling' && (value === 'strict' || value === 'lenient')) return value;
  }
  return undefined;
}

export function send(res: Response, r: Rendered, replayed: boolean): void {
  res.status(r.status);
  for (const [k, v] of Object.entries(r.headers ?? {})) res.set(k, v);
  if (replayed) res.set('Idempotent-Replayed', 'true');
  if (r.text === undefined && r.bytes === undefined) return void res.json(r.body);
  // as res.json sends its text
  if (!res.get('Content-Type')) res.set('Content-Type', 'application/json');
  res.send(bodyText(r));
}

export const withEtag = (version: number, extra: Record<string, string> = {}) => ({
  ETag: etagOf(version),
  ...extra,
});
