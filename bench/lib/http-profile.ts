import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where a V8 .cpuprofile's time went: self time per function and per package/area. */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export function summarizeProfile(file: string, root: string, top = 20): string[] {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const n of prof.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const where = url ? `${path.relative(root, url) || url}:${n.callFrame.lineNumber + 1}` : '(native)';
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byArea.set(
      areaOf(url, n.callFrame.functionName, root),
      (byArea.get(areaOf(url, n.callFrame.functionName, root)) ?? 0) + us,
    );
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  const inclusive = inclusiveTimes(prof.nodes, selfUs, root);
  return [
    `profile ${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled (wall time of the main thread: a blocking fsync inside SQLite counts as the function that called it)`,
    'self time by area: ' +
      sorted(byArea)
        .slice(0, 12)
        .map(([a, us]) => `${a} ${pct(us)}`)
        .join(', '),
    'self time, top functions:',
    ...sorted(byFn)
      .slice(0, top)
      .map(([f, us]) => `  ${pct(us)}  ${f}`),
    "inclusive time of the service's own functions (build/):",
    ...sorted(inclusive)
      .filter(([f]) => / build\//.test(f))
      .slice(0, top)
      .map(([f, us]) => `  ${pct(us)}  ${f}`),
  ];
}

/** Self + descendants per function, each function counted once per stack (recursion). */
function inclusiveTimes(nodes: Node[], selfUs: Map<number, number>, root: string): Map<string, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const subtree = new Map<number, number>();
  const sum = (id: number): number => {
    const n = byId.get(id)!;
    let t = selfUs.get(id) ?? 0;
    for (const c of n.children ?? []) t += sum(c);
    subtree.set(id, t);
    return t;
  };
  const out = new Map<string, number>();
  const first = nodes[0]; // the root of the call tree
  if (!first) return out;
  sum(first.id);
  const walk = (id: number, onStack: Set<string>) => {
    const n = byId.get(id)!;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${path.relative(root, url)}:${n.callFrame.lineNumber + 1}` : '(native)'}`;
    const next = onStack.has(key) ? onStack : new Set(onStack).add(key);
    if (!onStack.has(key)) out.set(key, (out.get(key) ?? 0) + subtree.get(id)!);
    for (const c of n.children ?? []) walk(c, next);
  };
  walk(first.id, new Set());
  return out;
}

function areaOf(url: string, fn: string, root: string): string {
  if (!url)
    return fn === '(idle)'
      ? '(idle)'
      : fn === '(garbage collector)'
        ? '(gc)'
        : fn === '(program)'
          ? '(program)'
          : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const rel = path.relative(root, url);
  return rel.startsWith('..') ? url : rel.split('/').slice(0, 2).join('/');
}
