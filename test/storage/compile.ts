import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const MIGRATIONS = path.join(ROOT, 'migrations');

/**
 * Compiles the given test entry points (and what they import) into `outDir` with the repo's
 * tsc, for child processes (ts-node is not installed). Returns the path of each compiled entry.
 */
export function compileChildren<const T extends readonly string[]>(
  outDir: string,
  entries: T,
): { -readonly [K in keyof T]: string } {
  const tsconfig = path.join(outDir, 'tsconfig.json');
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(ROOT, 'tsconfig.json'),
      compilerOptions: {
        outDir: path.join(outDir, 'out'),
        rootDir: ROOT,
        noEmit: false,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
      },
      files: entries.map((e) => path.join(ROOT, e)),
      include: [],
    }),
  );
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], {
    stdio: 'pipe',
  });
  // one path per entry, in order: the tuple type the caller gave
  return entries.map((e) => path.join(outDir, 'out', e.replace(/\.ts$/, '.js'))) as {
    -readonly [K in keyof T]: string;
  };
}

/** The environment a compiled child needs to find better-sqlite3 from outside the repo. */
export const childEnv = (): NodeJS.ProcessEnv => ({ ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') });
