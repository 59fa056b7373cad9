/**
 * The in-memory store alone (`npm run bench:memory`): what one process gets without Redis.
 *
 *  - Decisions per second, one after another on one event loop, each awaited as the engines await
 *    them: a first execution (begin + complete on a new key), a replay (begin on a completed key),
 *    and rate-limit decisions (consume) with one and with three named limits.
 *  - Memory per 1 million keys: heapUsed + external after a full GC, before and after filling the store with
 *    1M in-progress leases, then after completing all of them with a small stored response, and
 *    for 1M rate-limit counters.
 *
 * Imports the built library from dist/ (run `npm run build` first). Needs `--expose-gc`. Prints the
 * figures and writes them into bench/RESULTS.md between the memory-store markers.
 *
 * Environment: BENCH_MEMORY_OPS (decisions per timed pass, default 200000), BENCH_MEMORY_KEYS
 * (keys for the memory figures, default 1000000).
 */
import { Buffer } from 'node:buffer';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

import { BENCH_DIR, ROOT_DIR, libraryBuiltAt } from './lib/library.mjs';
import { MEMORY_SECTION, median } from './lib/report.mjs';

const gc = globalThis.gc;
if (typeof gc !== 'function') {
  process.stderr.write('run with --expose-gc: node --expose-gc bench/memory-store.mjs\n');
  process.exit(2);
}
const distIndex = join(ROOT_DIR, 'dist', 'index.js');
if (!existsSync(distIndex)) {
  process.stderr.write('dist/index.js is missing: run `npm run build` first\n');
  process.exit(2);
}
const { MemoryStore, storageKey } = await import(pathToFileURL(distIndex).href);

const OPS = Number(process.env.BENCH_MEMORY_OPS || 200_000);
const KEYS = Number(process.env.BENCH_MEMORY_KEYS || 1_000_000);
const PASSES = 3;
const LEASE_MS = 30_000;
const RETENTION_MS = 24 * 60 * 60 * 1000;

/** A storage key as the engine builds it: a hash of scope, method, route and the client's key. */
const keyFor = (i) => storageKey('tollgate', 'key', ['anonymous', 'POST', '/orders', `key-${i}`]);
/** A request fingerprint as the engine computes it: SHA-256, base64url. */
const fingerprintFor = (i) =>
  createHash('sha256').update(`{"amount":${i},"item":"book"}`).digest('base64url');
/** A small response as stored for replay: status, allow-listed headers, 48 body bytes. */
const response = (i) => ({
  status: 201,
  headers: [
    ['content-type', 'application/json; charset=utf-8'],
    ['location', `/orders/ord_${i}`],
  ],
  body: Buffer.from(JSON.stringify({ id: `ord_${i}`, item: 'book', amount: 12 }).padEnd(48)),
});

function rule(name, windowMs, algorithm = 'sliding-window') {
  return { name, limit: 1_000_000_000, windowMs, algorithm, cost: 1, blockMs: 0 };
}

/** Runs `pass` PASSES times after one warm-up pass; returns the median operations per second. */
async function opsPerSecond(label, pass) {
  await pass(0);
  const rates = [];
  for (let p = 1; p <= PASSES; p++) {
    const start = performance.now();
    const ops = await pass(p);
    rates.push(ops / ((performance.now() - start) / 1000));
  }
  const rate = median(rates);
  process.stdout.write(
    `${label.padEnd(52)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} /s\n`,
  );
  return { label, perSecond: rate };
}

async function decisions() {
  const keys = Array.from({ length: OPS }, (_, i) => keyFor(i));
  const owners = Array.from({ length: OPS }, () => randomUUID());
  const fingerprint = fingerprintFor(0);
  const stored = response(1);
  const results = [];

  // Each pass uses a fresh store, so every begin really is the first for its key.
  let store;
  results.push(
    await opsPerSecond('first execution (begin + complete, new key)', async () => {
      await store?.close();
      store = new MemoryStore({ maxKeys: OPS * 2, maxBytes: Infinity });
      for (let i = 0; i < OPS; i++) {
        await store.begin(keys[i], owners[i], fingerprint, LEASE_MS);
        await store.complete(keys[i], owners[i], stored, RETENTION_MS);
      }
      return OPS;
    }),
  );
  // A store at its maxKeys (the default 100 000): every write now evicts the oldest finished record.
  const atCapacityOps = Math.min(OPS, 100_000);
  let full;
  results.push(
    await opsPerSecond('first execution, store full at maxKeys 100 000 (default)', async (p) => {
      if (!full) {
        full = new MemoryStore();
        for (let i = 0; i < 100_000; i++) {
          await full.begin(`prefill-${i}`, 'o', fingerprint, LEASE_MS);
          await full.complete(`prefill-${i}`, 'o', stored, RETENTION_MS);
        }
      }
      for (let i = 0; i < atCapacityOps; i++) {
        const key = `${keys[i]}-${p}`;
        await full.begin(key, owners[i], fingerprint, LEASE_MS);
        await full.complete(key, owners[i], stored, RETENTION_MS);
      }
      return atCapacityOps;
    }),
  );
  await full.close();

  const other = randomUUID();
  results.push(
    await opsPerSecond('replay (begin on a completed key)', async () => {
      for (let i = 0; i < OPS; i++) await store.begin(keys[i], other, fingerprint, LEASE_MS);
      return OPS;
    }),
  );
  await store.close();

  const limiter = new MemoryStore({ maxKeys: OPS * 2, maxBytes: Infinity });
  if (typeof limiter.consume === 'function') {
    const clients = 1_000;
    const rateKeys = Array.from({ length: clients }, (_, i) =>
      storageKey('tollgate', 'rl', ['POST /orders', `10.0.${i >> 8}.${i & 255}`]),
    );
    for (const [label, rules] of [
      ['rate limit, 1 limit (sliding window)', [rule('default', 60_000)]],
      ['rate limit, 1 limit (fixed window)', [rule('default', 60_000, 'fixed-window')]],
      ['rate limit, 1 limit (token bucket)', [rule('default', 60_000, 'token-bucket')]],
      [
        'rate limit, 3 named limits (sliding window)',
        [rule('short', 1_000), rule('medium', 10_000), rule('long', 60_000)],
      ],
    ]) {
      results.push(
        await opsPerSecond(`${label}, ${clients} clients`, async () => {
          for (let i = 0; i < OPS; i++) await limiter.consume(rateKeys[i % clients], rules);
          return OPS;
        }),
      );
    }
  }
  await limiter.close();
  return results;
}

/** A figure per million keys is only one if every key is still held. */
function expectSize(store, what) {
  if (store.size !== KEYS) {
    throw new Error(`memory: ${store.size} ${what} records held, ${KEYS} expected`);
  }
}

/** heapUsed plus external (ArrayBuffer contents live outside the heap), after full GCs. */
function heapUsed() {
  gc();
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/** An owner token as long as the engine's (16 random characters, a dot, a counter), but derived from `i` so nothing else keeps it. */
const ownerFor = (i) => `owner-${i}`.padEnd(22, '-');

async function memory() {
  const perMillion = (bytes) => (bytes / KEYS) * 1_000_000;
  const figures = [];
  const report = (label, bytes) => {
    figures.push({ label, bytesPerMillion: perMillion(bytes), bytesPerKey: bytes / KEYS });
    process.stdout.write(
      `${label.padEnd(52)} ${(perMillion(bytes) / 2 ** 20).toFixed(0).padStart(8)} MiB per 1M keys (${Math.round(bytes / KEYS)} B/key)\n`,
    );
  };

  // Filling takes longer than a real lease: leases that ran out would be dropped mid-measurement.
  const leaseMs = 60 * 60 * 1000;
  // Keys, owners and fingerprints are made inside the loops and kept only by the store.
  {
    const store = new MemoryStore({ maxKeys: KEYS * 2, maxBytes: Infinity });
    const before = heapUsed();
    for (let i = 0; i < KEYS; i++) {
      await store.begin(keyFor(i), ownerFor(i), fingerprintFor(i), leaseMs);
    }
    expectSize(store, 'in-progress');
    report('in-progress leases', heapUsed() - before);
    await store.close();
  }

  // Each key completed right after it began, as most requests do (before ea2d318, completing a
  // million leases in the order they began was quadratic and took minutes).
  {
    const store = new MemoryStore({ maxKeys: KEYS * 2, maxBytes: Infinity });
    const before = heapUsed();
    for (let i = 0; i < KEYS; i++) {
      const [key, owner] = [keyFor(i), ownerFor(i)];
      await store.begin(key, owner, fingerprintFor(i), leaseMs);
      if (!(await store.complete(key, owner, response(i), RETENTION_MS))) {
        throw new Error(`memory: completing key ${i} failed: the lease was lost`);
      }
    }
    expectSize(store, 'completed');
    report('completed, with a 48-byte body and 2 headers stored', heapUsed() - before);
    await store.close();
  }

  const limiter = new MemoryStore({ maxKeys: KEYS * 2, maxBytes: Infinity });
  if (typeof limiter.consume === 'function') {
    const start = heapUsed();
    const rules = [rule('default', 60 * 60 * 1000)];
    for (let i = 0; i < KEYS; i++) {
      await limiter.consume(storageKey('tollgate', 'rl', ['POST /orders', `client-${i}`]), rules);
    }
    report('rate-limit counters (1 sliding-window limit, 1 h)', heapUsed() - start);
  }
  await limiter.close();
  return figures;
}

function renderSection(info, decisionFigures, memoryFigures) {
  const lines = [
    '<!-- memory-store:start -->',
    '## In-memory store (`npm run bench:memory`)',
    '',
    `Measured ${info.date} on ${info.nproc} CPUs (${info.cpu}), Node ${info.node}, Tollgate dist built ${info.built}: one event loop, every ` +
      'operation awaited in turn, median of 3 passes after a warm-up pass. Memory is heapUsed + external after a ' +
      `full GC, per 1 million keys (measured with ${KEYS.toLocaleString('en-US')} keys).`,
    '',
    'In the "store full" row every write also evicts the oldest finished record. Memory includes the Map ' +
      'table, which V8 sizes by its history of deletes.',
    '',
    '| Decision | per second |',
    '| --- | ---: |',
    ...decisionFigures.map(
      (d) => `| ${d.label} | ${Math.round(d.perSecond).toLocaleString('en-US')} |`,
    ),
    '',
    '| Held | MiB per 1M keys | bytes per key |',
    '| --- | ---: | ---: |',
    ...memoryFigures.map(
      (m) =>
        `| ${m.label} | ${(m.bytesPerMillion / 2 ** 20).toFixed(0)} | ${Math.round(m.bytesPerKey)} |`,
    ),
    '<!-- memory-store:end -->',
  ];
  return lines.join('\n');
}

const info = {
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  nproc: availableParallelism(),
  cpu: (cpus()[0]?.model ?? 'unknown').trim(),
  node: process.version,
  built: libraryBuiltAt().slice(0, 16).replace('T', ' ') + ' UTC',
};
process.stdout.write(
  `in-memory store: ${OPS.toLocaleString('en-US')} decisions per pass, ${KEYS.toLocaleString('en-US')} keys for memory; Node ${info.node}\n\n`,
);
const decisionFigures = await decisions();
process.stdout.write('\n');
const memoryFigures = await memory();

const section = renderSection(info, decisionFigures, memoryFigures);
const resultsFile = join(BENCH_DIR, 'RESULTS.md');
const current = existsSync(resultsFile)
  ? readFileSync(resultsFile, 'utf8')
  : '# Benchmark results\n';
const updated = MEMORY_SECTION.test(current)
  ? current.replace(MEMORY_SECTION, section)
  : `${current.trimEnd()}\n\n${section}\n`;
writeFileSync(resultsFile, updated);
process.stdout.write('\nwrote the in-memory store section of bench/RESULTS.md\n');
