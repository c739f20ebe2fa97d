#!/usr/bin/env node
// CI check: the generated files are what their generators make now.
//  - api/generated/openapi.ts from openapi.yaml (`npm run gen`);
//  - domain/names/table.generated.ts from the QEMU 7.2 and 10.0 sources (scripts/gen-names.js).
//    The sources are not in the repository: scripts/names/get-qemu-sources.sh fetches them into
//    $CPREG_QEMU_SRC (default /tmp/qemu-src). Without them the names check is skipped with a note,
//    or fails when CPREG_NAMES_CHECK=required (CI sets that after fetching them). docs/names.md.
const { execFileSync } = require('child_process');
const { existsSync, readFileSync, mkdtempSync } = require('fs');
const { join } = require('path');
const os = require('os');
const root = join(__dirname, '..');
let stale = false;

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
  stale = true;
} else {
  console.log('api/generated/openapi.ts is fresh');
}

const src = process.env.CPREG_QEMU_SRC || '/tmp/qemu-src';
const trees = [join(src, 'qemu-7.2+dfsg'), join(src, 'qemu-10.0.2')];
if (trees.every((t) => existsSync(join(t, 'VERSION')))) {
  try {
    const out = execFileSync(
      process.execPath,
      [join(root, 'scripts/gen-names.js'), '--check', ...trees.flatMap((t) => ['--qemu', t])],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    process.stdout.write(out);
  } catch (e) {
    process.stderr.write(e.stderr || String(e));
    stale = true;
  }
} else if (process.env.CPREG_NAMES_CHECK === 'required') {
  console.error(`domain/names/table.generated.ts: no QEMU sources in ${src} (scripts/names/get-qemu-sources.sh)`);
  stale = true;
} else {
  console.log(
    `domain/names/table.generated.ts: not checked, no QEMU sources in ${src} (scripts/names/get-qemu-sources.sh)`,
  );
}
if (stale) process.exit(1);
