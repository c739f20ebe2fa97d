import { execFile } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer, type RunningServer } from '../../api/server';

/**
 * Runs every curl example of the README, in order, against a started server, so the README
 * cannot rot. A command is a line starting with `curl` plus its continuation lines; a trailing
 * `# 4xx` comment names the status it must answer, otherwise it must answer 2xx.
 */
function readmeCommands(): Array<{ command: string; expect: number | 'ok' }> {
  const text = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!); // group 1 always takes part
  const out: Array<{ command: string; expect: number | 'ok' }> = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    for (let i = 0; i < lines.length; i++) {
      let command = lines[i]!; // i < lines.length
      if (!command.startsWith('curl ')) continue;
      // continue while a line ends with a backslash or a single quote is still open
      while ((command.endsWith('\\') || (command.match(/'/g) ?? []).length % 2 === 1) && i + 1 < lines.length)
        command += '\n' + lines[++i];
      const m = /\s#\s*(\d{3})\b.*$/.exec(command.split('\n').pop()!);
      if (m) command = command.slice(0, command.length - m[0].length);
      out.push({ command, expect: m ? Number(m[1]) : 'ok' });
    }
  }
  return out;
}

// Async: the server answering these commands runs in this very process.
const run = promisify(execFile);

let server: RunningServer;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-readme-'));
  const config = { ...configFromEnv({}), port: 0, dbPath: path.join(dir, 'cpreg.db') };
  server = await startServer(config, createLogger('silent'));
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the README walks the whole story: every curl example answers as it says', async () => {
  const commands = readmeCommands();
  expect(commands.length).toBeGreaterThanOrEqual(15);
  const story = commands.map((c) => c.command).join('\n');
  for (const step of [
    'POST http://127.0.0.1:8080/v1/cpus',
    '/registers',
    '/syncs',
    'migration?format=v23',
    'migration/check',
    '/events',
    '?version=',
    '/diff',
    '/v1/audit/verify',
  ]) {
    expect(story).toContain(step);
  }
  for (const { command, expect: wanted } of commands) {
    const script = command.replaceAll('http://127.0.0.1:8080', server.url) + " -w '\\n%{http_code}'";
    const output = (await run('bash', ['-c', script], { cwd: dir, encoding: 'utf8' })).stdout;
    const status = Number(output.trim().split('\n').pop());
    if (wanted === 'ok') {
      if (status < 200 || status > 299) throw new Error(`README command answered ${status}:\n${command}\n${output}`);
    } else {
      expect({ command, status }).toEqual({ command, status: wanted });
    }
  }
  // The story's end: vm2 carries what vm1 exported, and the chain holds.
  const vm2 = JSON.parse((await run('curl', ['-s', `${server.url}/v1/cpus/vm2.cpu0`], { encoding: 'utf8' })).stdout);
  const value = (id: string) => vm2.registers.find((r: { id: string }) => r.id === id).value;
  expect(value('0x603000000013de82')).toBe('0x0000ffff8000a000');
  expect(value('0x603000000013df1a')).toBe('0x0000000005f5e100');
  expect(value('0x6080000000140100')).toBe('0x' + '0'.repeat(511) + '1');
  const verify = JSON.parse((await run('curl', ['-s', `${server.url}/v1/audit/verify`], { encoding: 'utf8' })).stdout);
  expect(verify.ok).toBe(true);
});
