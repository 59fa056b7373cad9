/**
 * The engines and RedisStore alone, without HTTP (`npm run bench:store`): the CPU that Tollgate's
 * own path costs per decision in the app and in Redis, apart from any framework. Used to measure
 * store and script changes one at a time; the full bench (`npm run bench`) is what users compare.
 *
 *  - first execution, engine alone: the same on a store that answers at once (no Redis), so the
 *    engine's own CPU is seen apart from the client's and the server's
 *  - first execution: IdempotencyEngine.begin on a fresh key, then Execution.finish with a small
 *    JSON response (the two round trips of a first execution)
 *  - rate limit, 1 and 3 fixed-window limits: RedisStore.consume
 *
 * 32 concurrent loops on one event loop (as 32 connections would keep 32 requests in flight), a
 * throwaway redis-server, 3 s per pass, the median of 3 passes. Imports the built library from
 * dist/ (run `npm run build` first). DIST=<dir> measures another build, for an A/B comparison.
 */
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { ROOT_DIR } from './lib/library.mjs';
import { startRedis } from './lib/redis.mjs';

const dist = resolve(process.env.DIST ?? join(ROOT_DIR, 'dist'));
if (!existsSync(join(dist, 'index.js'))) {
  process.stderr.write(`${dist}/index.js is missing: run \`npm run build\` first\n`);
  process.exit(2);
}
// The engine and the policy resolver are internal (no entry point exports them): imported from
// their modules in the build, as the adapters do.
const builtModule = (path) => import(pathToFileURL(join(dist, path)).href);
const { RedisStore } = await builtModule('index.js');
const { IdempotencyEngine } = await builtModule('core/idempotency/engine.js');
const { resolveIdempotencyPolicy } = await builtModule('core/idempotency/options.js');

const log = (line) => process.stdout.write(line + '\n');

const CONCURRENCY = 32;
const PASS_SECONDS = 3;
const PASSES = 3;

const redis = await startRedis();
const store = new RedisStore({ url: redis.url });
await store.ready();

let sequence = 0;

/** A fresh Idempotency-Key, a small JSON body, and the response Express would send for it. */
function firstExecution(engine, policy) {
  const key = `key-${sequence++}`;
  const request = {
    method: 'POST',
    route: '/orders',
    scope: 'anonymous',
    header: (name) =>
      name === 'idempotency-key' ? key : name === 'content-type' ? 'application/json' : undefined,
    query: () => undefined,
    body: { item: 'book', amount: 12 },
  };
  return async () => {
    const decision = await engine.begin(request, policy);
    if (decision.action !== 'proceed') throw new Error(`expected proceed, got ${decision.action}`);
    await decision.execution.finish(RESPONSE);
  };
}
const BODY = Buffer.from(JSON.stringify({ id: 'ord_1', item: 'book', amount: 12 }));
const RESPONSE = {
  status: 201,
  headers: {
    'x-powered-by': 'Express',
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(BODY.length),
    etag: 'W/"2b-abc"',
  },
  body: BODY,
};

const fixedWindows = (windows) =>
  windows.map((windowMs) => ({
    name: `w${windowMs}`,
    algorithm: 'fixed-window',
    limit: 1_000_000_000,
    windowMs,
    cost: 1,
    blockMs: 0,
  }));

/** Runs `makeOperation(loop)()` in CONCURRENCY loops for `seconds`; CPU per operation. */
async function pass(makeOperation, seconds) {
  let done = 0;
  let stop = false;
  const loop = async (index) => {
    while (!stop) {
      await makeOperation(index)();
      done++;
    }
  };
  const redisBefore = await redis.cpuSeconds();
  const appBefore = process.cpuUsage();
  const started = performance.now();
  const loops = Array.from({ length: CONCURRENCY }, (_, index) => loop(index));
  await sleep(seconds * 1000);
  stop = true;
  await Promise.all(loops);
  const elapsed = (performance.now() - started) / 1000;
  const app = process.cpuUsage(appBefore);
  const redisSeconds = (await redis.cpuSeconds()) - redisBefore;
  return {
    perSecond: done / elapsed,
    appMicros: (app.user + app.system) / done,
    redisMicros: (redisSeconds * 1e6) / done,
  };
}

async function measure(label, makeOperation) {
  await pass(makeOperation, 1);
  const passes = [];
  for (let i = 0; i < PASSES; i++) passes.push(await pass(makeOperation, PASS_SECONDS));
  passes.sort((a, b) => a.appMicros - b.appMicros);
  const median = passes[Math.floor(passes.length / 2)];
  log(
    `${label.padEnd(34)} ${Math.round(median.perSecond).toString().padStart(7)} /s   ` +
      `app ${median.appMicros.toFixed(1).padStart(5)} µs   Redis ${median.redisMicros.toFixed(1).padStart(5)} µs   ` +
      `(app per pass: ${passes.map((p) => p.appMicros.toFixed(1)).join(', ')})`,
  );
}

log(
  `RedisStore alone: ${CONCURRENCY} loops, median of ${PASSES} × ${PASS_SECONDS} s; Node ${process.version}, Redis ${redis.version}; build ${dist}`,
);
const policy = resolveIdempotencyPolicy({ strategy: 'key' }, undefined, { decorated: true });
// The engine's own cost: a store that grants every take and confirms every write at once.
// Answers come in a later turn of the event loop, as a socket's would.
const later = (value) => new Promise((resolve) => setImmediate(resolve, value));
const instant = {
  kind: 'instant',
  begin: () => later({ state: 'acquired', fencingToken: 1 }),
  complete: () => later(true),
  markUnstorable: () => later(true),
  release: () => later(true),
  renew: () => later(true),
};
await measure('first execution, engine alone', () =>
  firstExecution(new IdempotencyEngine(instant), policy),
);
const engine = new IdempotencyEngine(store);
await measure('first execution (begin + finish)', () => firstExecution(engine, policy));
const one = fixedWindows([60_000]);
await measure(
  'rate limit, 1 fixed window',
  (index) => () => store.consume(`tollgate:rl:{${index}}`, one),
);
const three = fixedWindows([1_000, 10_000, 60_000]);
await measure(
  'rate limit, 3 fixed windows',
  (index) => () => store.consume(`tollgate:rl:{${index}}`, three),
);

await store.close();
await redis.stop();
