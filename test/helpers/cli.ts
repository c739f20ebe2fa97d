import { spawn } from 'child_process';
import * as path from 'path';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const BIN = path.join(__dirname, '../../bin/cpreg.js');

/**
 * Runs the `cpreg` CLI (bin/cpreg.js, built by `npm run build`) in a child process, without
 * blocking: a server the CLI talks to may run in the test's own process. CPREG_URL and
 * CPREG_TOKEN are cleared unless `env` gives them; killed after 60 s.
 */
export function runCpreg(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CPREG_URL: '', CPREG_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
