import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** One line naming the machine a result was measured on. */
function machineLine(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const model = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (model) cpu = model.trim();
  } catch {
    /* not Linux: os.cpus() is good enough */
  }
  const gib = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${os.cpus().length} cores (${cpu}), ${gib} GiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}`;
}

/** The machine is shared: how busy it was when the section was written (1, 5, 15 minutes). */
function loadLine(): string {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return `load average ${a.toFixed(1)}, ${b.toFixed(1)}, ${c.toFixed(1)} at the end of the run (2 cores, shared with other sessions)`;
}

/** Appends a dated section to bench/RESULTS.md (run from the repo root or from build/). */
export function appendResults(title: string, lines: string[]): void {
  const root = findRoot(__dirname);
  const file = path.join(root, 'bench', 'RESULTS.md');
  if (!fs.existsSync(file))
    fs.writeFileSync(
      file,
      '# Benchmark results\n\nEach section is one run of `npm run bench` (or one bench script), newest last.\n',
    );
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  fs.appendFileSync(
    file,
    `\n## ${title} — ${when}\n\nMachine: ${machineLine()}; ${loadLine()}\n\n${lines.map((l) => `- ${l}`).join('\n')}\n`,
  );
  console.log(`results appended to ${file}`);
}

function findRoot(dir: string): string {
  let d = dir;
  while (d !== path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'domain'))) return d;
    d = path.dirname(d);
  }
  return process.cwd();
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up) and returns ops/s. */
export function opsPerSecond(fn: () => void, ms = 2000): number {
  const warmUntil = performance.now() + Math.min(500, ms / 4);
  while (performance.now() < warmUntil) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 100; k++) fn();
    n += 100;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}
