#!/usr/bin/env node
// `npm run build:ui`: the web page served at /ui/ (api/routes/ui.ts), built from ui/ with esbuild:
// ui/src/main.ts (lit components, uPlot, the typed client of client/) bundled with its CSS into
// dist/ui/app.js and dist/ui/app.css, and ui/index.html copied beside them. Everything comes from
// node_modules; the page loads nothing from elsewhere. `--watch` rebuilds on change.
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'ui');

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: { app: 'ui/src/main.ts' },
  bundle: true,
  outdir: out,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
  tsconfig: path.join(root, 'tsconfig.json'),
};

async function main() {
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(__dirname, 'index.html'), path.join(out, 'index.html'));
  if (process.argv.includes('--watch')) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    process.stdout.write(`watching ui/ → ${path.relative(root, out)}/\n`);
    return;
  }
  const r = await esbuild.build({ ...options, metafile: true });
  const bytes = Object.entries(r.metafile.outputs)
    .filter(([f]) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'))
    .map(([f, o]) => `${path.basename(f)} ${(o.bytes / 1024).toFixed(0)} KiB`);
  process.stdout.write(`ui: dist/ui/ index.html, ${bytes.join(', ')}\n`);
}

main().catch((e) => {
  process.stderr.write(`build:ui: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
