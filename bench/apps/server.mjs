/**
 * One target's app, in its own process (so targets never share a heap, a JIT profile or an event
 * loop). Started by bench/run.mjs with `fork`; talks to it over the IPC channel:
 *   → { type: 'ready', port } once it listens, its Redis connections ready
 *   → { type: 'skip', reason } when the target cannot run (a Tollgate feature not built yet)
 *   → { type: 'error', message } when it failed to start
 *   ← { type: 'cpu' } → { type: 'cpu', usage }: process.cpuUsage(), for CPU time per request
 *   ← { type: 'stop' }: closes the app and exits (so a --cpu-prof profile is written)
 */
import process from 'node:process';
import { setTimeout } from 'node:timers';

import { TARGETS } from '../targets.mjs';
import { startExpress } from './express.mjs';
import { startNest } from './nest.mjs';
import { SkipTarget } from './skip.mjs';

const targetId = process.argv[2];
const target = TARGETS.find((t) => t.id === targetId);
const redisUrl = process.env.BENCH_REDIS_URL;
// Set when the run has PostgreSQL targets.
const databaseUrl = process.env.BENCH_DATABASE_URL;

function send(message) {
  return new Promise((resolve) => process.send(message, () => resolve()));
}

// The runner is gone (killed, crashed): never outlive it.
process.on('disconnect', () => process.exit(0));

try {
  if (!target) throw new Error(`unknown target ${targetId}`);
  if (!redisUrl) throw new Error('BENCH_REDIS_URL is not set');
  const start = target.framework === 'nest' ? startNest : startExpress;
  if (target.store === 'postgres' && !databaseUrl) throw new Error('BENCH_DATABASE_URL is not set');
  const app = await start(target.id, { redisUrl, databaseUrl });
  process.on('message', (message) => {
    // CPU time of this process: the runner turns it into CPU per request, which contention from
    // other processes distorts far less than throughput.
    if (message?.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage() });
    if (message?.type !== 'stop') return;
    // A close that hangs (a client that never quits) must not keep the bench waiting.
    setTimeout(() => process.exit(0), 3_000).unref();
    app.server.closeAllConnections?.();
    app.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  });
  await send({ type: 'ready', port: app.server.address().port });
} catch (error) {
  if (error instanceof SkipTarget) await send({ type: 'skip', reason: error.message });
  else await send({ type: 'error', message: error?.stack ?? String(error) });
  process.exit(0);
}
