import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnServer, type SpawnedServer } from '../../bench/lib/http-server';

export const ROOT = path.resolve(__dirname, '../..');

/**
 * The server compiled into `outDir` (tsc -p tsconfig.build.json), for tests that run it as a real
 * process (kills, memory, file-system faults). Returns the path of api/main.js.
 */
export function buildServer(outDir: string): string {
  try {
    execFileSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        path.join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        outDir,
      ],
      { stdio: 'pipe', cwd: ROOT },
    );
  } catch (e) {
    // tsc emits even with type errors (others may be mid-edit); only a missing entry is fatal
    if (!fs.existsSync(path.join(outDir, 'api/main.js')))
      throw new Error(`build failed: ${String((e as { stdout?: Buffer }).stdout ?? e)}`, { cause: e });
  }
  fs.copyFileSync(path.join(ROOT, 'openapi.yaml'), path.join(outDir, 'openapi.yaml'));
  return path.join(outDir, 'api/main.js');
}

/** Spawns the built server on a database; `children` collects it so afterAll can kill it. */
export async function startBuilt(
  entry: string,
  env: NodeJS.ProcessEnv,
  children: Set<ChildProcess>,
  port?: number,
): Promise<SpawnedServer> {
  const s = await spawnServer({
    entry,
    ...(port === undefined ? {} : { port }),
    cwd: ROOT,
    env: { LOG_LEVEL: 'warn', NODE_PATH: path.join(ROOT, 'node_modules'), ...env },
  });
  children.add(s.child);
  void s.exited.then(() => children.delete(s.child));
  return s;
}
