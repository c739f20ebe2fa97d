import { Router } from 'express';
import { sha256Hex } from '../../app/migration';
import type { BlobFormat } from '../../domain/vmstate/format';
import { loadReportOf, type BlobLoaded, type LoadReport } from '../../domain/vcpu';
import { blobBody, requireBlob } from '../bodies';
import { runCommand, withEtag, type Render } from '../command';
import type { AppContext } from '../context';
import { findingView } from '../finding-view';
import { formatParam, metadataOf, pathParam } from '../request-meta';
import { onlyQuery } from '../schemas';
import { loadReportView } from '../views';

const loaded =
  (format: BlobFormat): Render =>
  ({ streamId: id, events, state, version }) => {
    const e = events[0] as BlobLoaded;
    const values = new Map(e.loaded.ids.map((rid, k) => [rid, e.loaded.values[k]!] as const));
    return {
      status: 200,
      body: { id, version, ...loadReportView(loadReportOf(e, state), state, format, false, values) },
      headers: withEtag(version),
    };
  };

export function migrationRoutes(ctx: AppContext): Router {
  const r = Router();

  // Export: the blob of the current registers; the export itself is recorded (who, format, sha256).
  // HEAD is safe: the same headers, and nothing recorded.
  r.get('/v1/cpus/:id/migration', async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const id = pathParam(req, 'id');
    const out =
      req.method === 'HEAD'
        ? await ctx.service.migrations.export(id, format, { record: false })
        : await ctx.service.migrations.export(id, format, { record: true, metadata: metadataOf(req, res) });
    res.set(withEtag(out.recordedVersion, { 'X-Content-SHA256': out.sha256 })).type('application/octet-stream');
    if (req.method === 'HEAD') {
      res.set('Content-Length', String(out.blob.length)).end();
      return;
    }
    res.set('Content-Disposition', `attachment; filename="${id}.${format}.bin"`);
    res.send(Buffer.from(out.blob.buffer, out.blob.byteOffset, out.blob.length));
  });

  r.put('/v1/cpus/:id/migration', requireBlob, blobBody, async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const blob = new Uint8Array(req.body as Buffer);
    await runCommand(
      ctx,
      req,
      res,
      pathParam(req, 'id'),
      { type: 'LoadBlob', format, blob, sha256: sha256Hex(blob) },
      loaded(format),
    );
  });

  // The pre-flight: the same report as a load, computed on the current state; records nothing.
  r.post('/v1/cpus/:id/migration/check', requireBlob, blobBody, async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const blob = new Uint8Array(req.body as Buffer);
    const { id, version, state, plan, prediction } = await ctx.service.migrations.check(
      pathParam(req, 'id'),
      format,
      blob,
    );
    const report: LoadReport = {
      updated: plan.updated,
      changed: plan.changed,
      kept: plan.kept,
      warnings: plan.warnings,
    };
    const values = new Map(plan.updated.map((rid, k) => [rid, plan.values[k]!] as const));
    const view = loadReportView(report, state, format, true, values);
    // QEMU's verdict (the matrix's); its warnings (values that will not survive) join the report's.
    const lost = prediction.warnings.map((f) => ({ kind: f.rule, ...findingView(state, f) }));
    res.set(withEtag(version)).json({
      id,
      version,
      ...view,
      warnings: [...view.warnings, ...lost],
      verdict: prediction.verdict,
      reasons: prediction.reasons.map((f) => findingView(state, f)),
    });
  });

  return r;
}
