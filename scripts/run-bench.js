#!/usr/bin/env node
// Runs every compiled benchmark (build/bench/*.js, made by `npm run bench:build`) one after
// another; each appends its results to bench/RESULTS.md. Name some to run only those:
//   npm run bench -- codecs storage
const { readdirSync, existsSync } = require('fs');
const { join } = require('path');
const { spawnSync } = require('child_process');
const dir = join(__dirname, '..', 'build', 'bench');
if (!existsSync(dir)) {
  console.error('build/bench is missing: run `npm run bench:build` first');
  process.exit(1);
}
const wanted = process.argv.slice(2);
const benches = readdirSync(dir).filter(
  (f) => f.endsWith('.js') && (!wanted.length || wanted.includes(f.replace(/\.js$/, ''))),
);
let failed = 0;
for (const f of benches) {
  console.log(`\n=== bench/${f.replace(/\.js$/, '.ts')}`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
