/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and the
 * self time per package, so "where does the time go" has a short answer.
 *
 *   node bench/lib/profile.mjs bench/results/profiles/<target>.cpuprofile [top] [focus]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { BENCH_DIR } from './library.mjs';

/** Which package a script belongs to: `tollgate`, `@nestjs/core`, `node:internal`, `(gc)`, ... */
function packageOf(url, functionName) {
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)' || functionName === '(program)') return functionName;
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node (core)';
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules === -1) return relative(BENCH_DIR, path).startsWith('..') ? path : 'bench';
  const parts = path.slice(inModules + '/node_modules/'.length).split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

function shortLocation(url, line) {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  const short = inModules === -1 ? path : path.slice(inModules + '/node_modules/'.length);
  return `${short}:${line + 1}`;
}

/**
 * Self time per function and per package, in ms and as a share of the busy (non-idle) time; and
 * the inclusive time (self plus callees) of the functions whose script URL contains `focus`, which
 * shows what a library's own calls cost, socket writes and callbacks included.
 */
export function summariseProfile(file, top = 15, focus = '/tollgate/dist/') {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  const selfMicros = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map();
  const packages = new Map();
  const inclusive = new Map();
  let busy = 0;
  for (const [id, micros] of selfMicros) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    busy += micros;
    // Each focused function on this sample's stack is charged once, however deep it recurses.
    const seen = new Set();
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at).callFrame;
      if (!focus || !frame.url.includes(focus)) continue;
      const key = `${frame.functionName || '(anonymous)'} ${shortLocation(frame.url, frame.lineNumber)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
    const key = `${name} ${shortLocation(callFrame.url, callFrame.lineNumber)}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
    const pkg = packageOf(callFrame.url, name);
    packages.set(pkg, (packages.get(pkg) ?? 0) + micros);
  }
  const rank = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({
        name,
        ms: Math.round(micros / 1000),
        share: busy === 0 ? 0 : micros / busy,
      }));
  return {
    busyMs: Math.round(busy / 1000),
    functions: rank(functions),
    packages: rank(packages),
    focus,
    inclusive: rank(inclusive),
  };
}

const row = (entry) =>
  `  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${String(entry.ms).padStart(6)} ms  ${entry.name}`;

/** The summary as text; with `requests` (how many the app served), also CPU time per request. */
export function formatSummary(summary, requests) {
  const perRequest = requests
    ? `, ${Math.round((summary.busyMs * 1000) / requests)} µs per request served (${requests})`
    : '';
  const lines = [`busy (non-idle) CPU time: ${summary.busyMs} ms${perRequest}`];
  lines.push('', 'top self time by function:', ...summary.functions.map(row));
  lines.push('', 'self time by package:', ...summary.packages.map(row));
  if (summary.inclusive.length > 0) {
    lines.push('', `inclusive time (self + callees) of functions in ${summary.focus}:`);
    lines.push(...summary.inclusive.map(row));
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top, focus] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/lib/profile.mjs <file.cpuprofile> [top] [focus]\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(summariseProfile(file, Number(top) || 15, focus)) + '\n');
}
