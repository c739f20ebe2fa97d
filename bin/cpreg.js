#!/usr/bin/env node
'use strict';
// The `cpreg` command (package.json "bin"): the compiled CLI, built by `npm run build` (run by `npm ci`).
let cli;
try {
  cli = require('../dist/cli/cpreg.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /dist[\\/]cli[\\/]cpreg/.test(String(e.message))) {
    process.stderr.write('cpreg: not built yet: run `npm run build` (or `npm ci`)\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
