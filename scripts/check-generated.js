#!/usr/bin/env node
// CI check: api/generated/openapi.ts must be what `npm run gen` makes from openapi.yaml now.
const { execFileSync } = require('child_process');
const { readFileSync, mkdtempSync } = require('fs');
const { join } = require('path');
const os = require('os');
const root = join(__dirname, '..');
const tmp = join(mkdtempSync(join(os.tmpdir(), 'cpreg-gen-')), 'openapi.ts');
execFileSync(
  process.execPath,
  [join(root, 'node_modules/openapi-typescript/bin/cli.js'), join(root, 'openapi.yaml'), '-o', tmp],
  { stdio: 'pipe' },
);
const fresh = readFileSync(tmp, 'utf8');
const committed = readFileSync(join(root, 'api/generated/openapi.ts'), 'utf8');
if (fresh !== committed) {
  console.error('api/generated/openapi.ts is stale: run `npm run gen` and commit it');
  process.exit(1);
}
console.log('api/generated/openapi.ts is fresh');
