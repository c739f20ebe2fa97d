#!/usr/bin/env node
// `npm start`: builds only when a source is newer than the last build, then serves. A second
// start with nothing changed goes straight to the server.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const stamp = path.join(root, 'dist', '.built');
const inputs = ['api', 'app', 'domain', 'storage', 'cli', 'client', 'ui', 'migrations'];
const files = ['openapi.yaml', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

/** The newest modification time under the build's inputs (ms). */
function newest() {
  let t = 0;
  const visit = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) visit(path.join(p, e));
    else t = Math.max(t, st.mtimeMs);
  };
  for (const d of inputs) visit(path.join(root, d));
  for (const f of files) visit(path.join(root, f));
  return t;
}

const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
if (!fs.existsSync(path.join(root, 'dist', 'api', 'main.js')) || newest() > built) {
  const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
  fs.writeFileSync(stamp, new Date().toISOString() + '\n');
}
require(path.join(root, 'dist', 'api', 'main.js'));
