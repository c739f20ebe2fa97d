import { createHash } from 'crypto';
import { Router } from 'express';
import type { BlobFormat } from '../../domain/vmstate/format';
import { checkLoad, exportBlob, loadReportOf, type LoadReport } from '../../domain/vcpu';
import { ConcurrencyError } from '../../storage/event-store';
import { blobBody, requireBlob } from '../bodies';
import { runCommand, withEtag, type Render } from '../command';
import type { AppContext } from '../context';
import { formatParam, metadataOf, pathParam } from '../request-meta';
import { onlyQuery } from '../schemas';
import { loadReportView } from '../views';
import { loadVersion } from './cpus';
import type { RegisteredEvent } from './event-types';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function migrationRoutes(ctx: AppContext): Router {
  const r = Router();

  // Export: the blob of the current registers; the export itself is recorded (who, format, sha256).
  r.get('/v1/cpus/:id/migration', async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const metadata = metadataOf(req, res);
    for (let attempt = 0; ; attempt++) {
      const { state, version } = await loadVersion(ctx, pathParam(req, 'id'), undefined);
      const blob = exportBlob(state, format);
      const digest = sha256(blob);
      if (req.method === 'HEAD') {
        // HEAD is safe: the headers of the export, and nothing recorded.
        res
          .set(withEtag(version, { 'X-Content-SHA256': digest }))
          .type('application/octet-stream')
          .set('Content-Length', String(blob.length))
          .end();
        return;
      }
      try {
        // Based on the version the blob was made from, so the recorded hash is of this very blob.
        const out = await ctx.repo.execute(
          pathParam(req, 'id'),
          { type: 'RecordExport', format, sha256: digest, byteLength: blob.length },
          { expectedVersion: version, metadata },
        );
        res.set(
          withEtag(out.version, {
            'X-Content-SHA256': digest,
            'Content-Disposition': `attachment; filename="${pathParam(req, 'id')}.${format}.bin"`,
          }),
        );
        res.type('application/octet-stream').send(Buffer.from(blob.buffer, blob.byteOffset, blob.length));
        return;
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || attempt >= 9) throw e;
      }
    }
  });

  const loaded =
    (format: BlobFormat): Render =>
    (id, events, state, version) => {
      const e = events[0] as RegisteredEvent<'BlobLoaded'>;
      const values = new Map(e.loaded.ids.map((rid, k) => [rid, e.loaded.values[k]] as const));
      return {
        status: 200,
        body: { id, version, ...loadReportView(loadReportOf(e, state), state, format, false, values) },
        headers: withEtag(version),
      };
    };

  r.put('/v1/cpus/:id/migration', requireBlob, blobBody, async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const blob = new Uint8Array(req.body as Buffer);
    await runCommand(
      ctx,
      req,
      res,
      pathParam(req, 'id'),
      { type: 'LoadBlob', format, blob, sha256: sha256(blob) },
      loaded(format),
    );
  });

  // The pre-flight: the same report as a load, computed on the current state; records nothing.
  r.post('/v1/cpus/:id/migration/check', requireBlob, blobBody, async (req, res) => {
    const format = formatParam(onlyQuery(req.query, ['format']).format);
    const { id, version, state } = await loadVersion(ctx, pathParam(req, 'id'), undefined);
    res.locals.accelerator = state.accelerator;
    const plan = checkLoad(state, { format, blob: new Uint8Array(req.body as Buffer) });
    const report: LoadReport = {
      updated: plan.updated,
      changed: plan.changed,
      kept: plan.kept,
      warnings: plan.warnings,
    };
    const values = new Map(plan.updated.map((rid, k) => [rid, plan.values[k]] as const));
    res.set(withEtag(version)).json({ id, version, ...loadReportView(report, state, format, true, values) });
  });

  return r;
}
