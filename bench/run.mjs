/**
 * Tollgate against the libraries users would pick instead: `npm run bench`.
 *
 * Starts a throwaway redis-server (and a PostgreSQL cluster when PostgresStore targets are
 * selected), then, round after round, starts each target's app in a child process, checks that it
 * really protects the route, warms it up, drives it with autocannon (POST /orders, small JSON
 * body) and records requests per second, p50/p99 latency, the store's CPU and its commands (or SQL
 * statements) per request. Writes bench/RESULTS.md, bench/results.svg and
 * bench/results/latest.json.
 *
 * Environment:
 *   BENCH_DURATION     measured seconds per target and round (default 5)
 *   BENCH_WARMUP       warm-up seconds before each measured run (default 2)
 *   BENCH_SLICE        seconds per slice: a target and its bare app are driven in turn, one
 *                      slice at a time (default 1)
 *   BENCH_ROUNDS       rounds; targets run interleaved in each, order rotated per round (default 3)
 *   BENCH_CONNECTIONS  concurrent connections (default 32)
 *   BENCH_CENSUS       requests replayed under MONITOR to split Redis commands into top-level and
 *                      in-Lua, or with pg_stat_statements to count SQL statements (default 400;
 *                      0 turns the census off)
 *   BENCH_TARGETS      comma-separated target ids (or parts of ids) to run; the bare apps of their
 *                      frameworks always run too. A filtered run writes only results/latest.json
 *                      unless BENCH_WRITE=1.
 *   BENCH_NOTE         a sentence printed at the top of RESULTS.md (e.g. "shared, noisy machine")
 *   BENCH_PROFILE      a target id: run only that target once under `node --cpu-prof`, print where
 *                      its time goes and keep the profile in bench/results/profiles/
 *   BENCH_APP_FLAGS    extra Node flags for every app process (e.g. `--trace-gc`)
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { request } from 'node:http';
import { cpus, freemem, loadavg, totalmem, availableParallelism } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';

import autocannon from 'autocannon';

import {
  BENCH_DIR,
  ROOT_DIR,
  installBuiltLibrary,
  installedVersion,
  libraryBuiltAt,
} from './lib/library.mjs';
import { formatSummary, summariseProfile } from './lib/profile.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { startRedis } from './lib/redis.mjs';
import { median, renderMarkdown, renderSvg, MEMORY_SECTION } from './lib/report.mjs';
import { BODY, ROUTE, SECTIONS, TARGETS, bareOf } from './targets.mjs';

const env = process.env;
const number = (name, fallback) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0`);
  return value;
};
const config = {
  duration: number('BENCH_DURATION', 5),
  warmup: number('BENCH_WARMUP', 2),
  slice: Math.max(1, Math.round(number('BENCH_SLICE', 1))),
  rounds: Math.max(1, Math.round(number('BENCH_ROUNDS', 3))),
  connections: Math.max(1, Math.round(number('BENCH_CONNECTIONS', 32))),
  census: Math.round(number('BENCH_CENSUS', 400)),
  profile: env.BENCH_PROFILE || undefined,
  note: env.BENCH_NOTE || undefined,
};
const RESULTS_DIR = join(BENCH_DIR, 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'profiles');
const SERVER = join(BENCH_DIR, 'apps', 'server.mjs');

const log = (line) => process.stdout.write(line + '\n');

function selectTargets() {
  if (config.profile) {
    const target = TARGETS.find((t) => t.id === config.profile);
    if (!target) throw new Error(`BENCH_PROFILE: no target ${config.profile}`);
    return [target];
  }
  const wanted = (env.BENCH_TARGETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (wanted.length === 0) return TARGETS;
  const picked = TARGETS.filter((t) => wanted.some((w) => t.id.includes(w)));
  const bares = new Set(picked.map(bareOf));
  return TARGETS.filter((t) => picked.includes(t) || bares.has(t.id));
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** One POST /orders on a fresh connection: the probe that proves a target protects its route. */
function post(port, headers) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: ROUTE,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Keys never repeat across runs, targets and rounds: each drive() gets its own prefix. */
const keyPrefix = `k${process.pid.toString(36)}${Date.now().toString(36)}`;
let drives = 0;

/** autocannon with the target's workload; `seconds` or `amount` bounds the run. */
function drive(port, workload, sameKey, bound) {
  const headers = { 'content-type': 'application/json' };
  if (workload === 'same-key') headers['idempotency-key'] = sameKey;
  const req = { method: 'POST', path: ROUTE, headers, body: BODY };
  if (workload === 'fresh-key') {
    let seq = 0;
    const prefix = `${keyPrefix}-${++drives}`;
    // A new Idempotency-Key on every request: every request is a first execution.
    req.setupRequest = (r) => {
      r.headers = { ...headers, 'idempotency-key': `${prefix}-${++seq}` };
      return r;
    };
  }
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: config.connections,
    pipelining: 1,
    timeout: 10,
    requests: [req],
    ...bound,
  });
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** The app processes running now, so an interrupted bench can stop them. */
const runningApps = new Set();

function startApp(target, redis, postgres) {
  // BENCH_APP_FLAGS: extra Node flags for the app process, e.g. `--heap-prof` or `--trace-gc`.
  const execArgv = (env.BENCH_APP_FLAGS ?? '').split(' ').filter(Boolean);
  if (config.profile) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${PROFILE_DIR}`,
      `--cpu-prof-name=${target.id}.cpuprofile`,
    );
  }
  const child = fork(SERVER, [target.id], {
    cwd: BENCH_DIR,
    env: {
      ...env,
      BENCH_REDIS_URL: redis.url,
      ...(postgres ? { BENCH_DATABASE_URL: postgres.url } : {}),
      NODE_ENV: 'production',
    },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the app did not start within 60 s')), 60_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the app exited during start-up (code ${code}, signal ${signal})`));
    });
  });
  /** CPU microseconds the app process has used so far. */
  const cpu = () =>
    new Promise((resolve) => {
      const onMessage = (message) => {
        if (message?.type !== 'cpu') return;
        child.off('message', onMessage);
        resolve(message.usage.user + message.usage.system);
      };
      child.on('message', onMessage);
      child.send({ type: 'cpu' });
    });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  runningApps.add(child);
  child.once('exit', () => runningApps.delete(child));
  return { started, stop, cpu };
}

// ---------------------------------------------------------------------------------------------
// One target, one round

/**
 * Fails unless the target does its job: replays a repeated key, or keeps counters in Redis; a
 * PostgresStore target keeps its records in PostgreSQL and nothing in Redis.
 */
async function probe(target, port, stores, sameKey) {
  const { redis, postgres } = stores;
  const key = target.workload === 'same-key' ? sameKey : `${keyPrefix}-probe`;
  const headers = target.workload === 'plain' ? {} : { 'idempotency-key': key };
  const first = await post(port, headers);
  if (first.status !== 201) {
    throw new Error(`probe: expected 201, got ${first.status}: ${first.body.slice(0, 300)}`);
  }
  if (target.refused) {
    // A limit of 1: the first request passes, every later one is refused.
    const second = await post(port, headers);
    if (second.status !== 429) {
      throw new Error(`probe: expected 429 over the limit, got ${second.status}`);
    }
  }
  if (target.workload !== 'plain') {
    // Results are stored when the response ends; give the store a moment before the duplicate.
    await sleep(100);
    const second = await post(port, headers);
    if (second.status !== 201 || second.body !== first.body) {
      throw new Error(
        `probe: a repeated Idempotency-Key was not replayed (${second.status} ${second.body.slice(0, 200)} after ${first.body})`,
      );
    }
  }
  const keys = await redis.dbsize();
  const rows = postgres ? await postgres.rows() : 0;
  const protects = target.section !== 'bare' && target.section !== 'reference';
  if (!protects && keys + rows !== 0) {
    throw new Error('probe: an app without protection wrote to Redis or PostgreSQL');
  }
  if (target.store === 'postgres') {
    if (protects && rows === 0) throw new Error('probe: nothing was written to PostgreSQL');
    if (keys !== 0) throw new Error('probe: a PostgresStore app wrote to Redis');
  } else if (protects && keys === 0) {
    throw new Error('probe: nothing was written to Redis');
  }
}

/** The server a target keeps its records in: its CPU time is the row's store CPU. */
const storeOf = (target, stores) => (target.store === 'postgres' ? stores.postgres : stores.redis);

function perRequest(counts, requests) {
  const out = {};
  for (const [command, calls] of Object.entries(counts)) out[command] = calls / requests;
  return out;
}

/** An app started, probed and warmed up, ready for measured slices. */
async function readyApp(target, stores, sameKey) {
  const app = startApp(target, stores.redis, stores.postgres);
  const message = await app.started;
  if (message.type === 'skip') return { app, skipped: message.reason };
  if (message.type !== 'ready') throw new Error(message.message ?? 'the app failed to start');
  await probe(target, message.port, stores, sameKey);
  const warm =
    config.warmup > 0
      ? await drive(message.port, target.workload, sameKey, { duration: config.warmup })
      : undefined;
  return { app, port: message.port, warmed: warm?.requests.total ?? 0 };
}

/**
 * Other tenants of a shared machine only ever slow a slice down, never speed it up, so the faster
 * half of the slices estimates an app's speed on the machine undisturbed: the mean of those.
 */
function fasterHalfMean(rates) {
  const faster = [...rates].sort((a, b) => b - a).slice(0, Math.ceil(rates.length / 2));
  return faster.reduce((a, b) => a + b, 0) / Math.max(1, faster.length);
}

/** Sums of the measured slices of one app. */
function emptyTally() {
  return {
    sliceRates: [],
    requests: 0,
    seconds: 0,
    appCpu: 0,
    storeCpu: 0,
    p50: [],
    p99: [],
    non2xx: 0,
    errors: 0,
    timeouts: 0,
  };
}

/** One slice of `seconds` of load on one app, added to its tally. */
async function measureSlice(ready, target, stores, sameKey, seconds, tally) {
  const store = storeOf(target, stores);
  const appBefore = await ready.app.cpu();
  const storeBefore = await store.cpuSeconds();
  const result = await drive(ready.port, target.workload, sameKey, { duration: seconds });
  // Requests still in flight when autocannon stopped finish here, not in the other app's slice.
  await sleep(50);
  tally.storeCpu += (await store.cpuSeconds()) - storeBefore;
  tally.appCpu += (await ready.app.cpu()) - appBefore;
  tally.sliceRates.push(result.requests.total / result.duration);
  tally.requests += result.requests.total;
  tally.seconds += result.duration;
  tally.p50.push(result.latency.p50);
  tally.p99.push(result.latency.p99);
  // A refused-client row answers 429 by design: there a 2xx is the unexpected status.
  tally.non2xx += target.refused ? result['2xx'] : result.non2xx;
  tally.errors += result.errors;
  tally.timeouts += result.timeouts;
}

function measuredOf(tally, round, served, commands) {
  const requests = Math.max(1, tally.requests);
  return {
    round,
    requests: tally.requests,
    // Everything the app served, probe and warm-up included: the denominator of a CPU profile.
    served,
    rps: fasterHalfMean(tally.sliceRates),
    // Over all slices, slowed ones included.
    rpsAll: tally.requests / tally.seconds,
    sliceRates: tally.sliceRates.map(Math.round),
    p50: median(tally.p50),
    p99: median(tally.p99),
    // CPU time per request, in µs: of the app process, and of its store's server (redis-server,
    // or PostgreSQL's postmaster and backends).
    appCpu: tally.appCpu / requests,
    storeCpu: (tally.storeCpu * 1e6) / requests,
    non2xx: tally.non2xx,
    errors: tally.errors,
    timeouts: tally.timeouts,
    commandsPerRequest: perRequest(commands, requests),
  };
}

/**
 * One target in one round, measured against its framework's bare app running beside it. Both
 * apps are started and warmed up, then driven in turn, one slice (BENCH_SLICE seconds) at a time,
 * in the order bare, target, target, bare, bare, ... until each has had BENCH_DURATION seconds.
 * On a shared machine whose speed drifts from one minute to the next, the ratio then compares
 * the two apps under the same conditions rather than minutes apart. A bare app alone (a run of
 * the bare apps only) is measured the same way without a partner.
 */
async function runOnce(target, stores, round, withCensus) {
  const { redis, postgres } = stores;
  await redis.flush();
  await postgres?.flush();
  // A profiled run measures the target alone: a partner would write a profile of its own.
  const bareTarget =
    target.section === 'bare' || config.profile
      ? undefined
      : TARGETS.find((t) => t.id === bareOf(target));
  const sameKey = `${keyPrefix}-same`;
  const started = [];
  try {
    // The bare app first: its probe checks that nothing has written to Redis yet.
    const bare = bareTarget ? await readyApp(bareTarget, stores, sameKey) : undefined;
    if (bare) started.push(bare.app);
    if (bare?.skipped) throw new Error(`${bareTarget.id} skipped: ${bare.skipped}`);
    const app = await readyApp(target, stores, sameKey);
    started.push(app.app);
    if (app.skipped) return { status: 'skipped', reason: app.skipped };
    await sleep(250);

    const slices = Math.max(1, Math.round(config.duration / config.slice));
    const tally = emptyTally();
    const bareTally = emptyTally();
    await redis.resetStats();
    await postgres?.resetStats();
    for (let i = 0; i < slices; i++) {
      // bare, target, target, bare, ...: each app goes first as often as second.
      const bareFirst = i % 2 === 0;
      if (bare && bareFirst)
        await measureSlice(bare, bareTarget, stores, sameKey, config.slice, bareTally);
      await measureSlice(app, target, stores, sameKey, config.slice, tally);
      if (bare && !bareFirst)
        await measureSlice(bare, bareTarget, stores, sameKey, config.slice, bareTally);
    }
    // Only the protected app talks to its store, so the commands are all its own. On PostgreSQL,
    // the statements it sent (pg_stat_statements): each one a round trip, as a Redis command is.
    const commands =
      target.store === 'postgres' ? await postgres.statementStats() : await redis.commandStats();
    const probeRequests = target.workload === 'plain' ? 1 : 2;
    const measured = measuredOf(
      tally,
      round,
      tally.requests + app.warmed + probeRequests,
      commands,
    );
    const bareMeasured = bare
      ? {
          ...measuredOf(bareTally, round, bareTally.requests + bare.warmed + 1, {}),
          pairedWith: target.id,
        }
      : undefined;
    if (bareMeasured) measured.bareRps = bareMeasured.rps;

    let census;
    if (withCensus && config.census > 0 && target.store === 'postgres') {
      // PostgreSQL's census: every statement is a round trip, so counting the statements of a
      // fixed number of requests, and nothing in flight, gives the exact number per request.
      await postgres.resetStats();
      const c = await drive(app.port, target.workload, sameKey, { amount: config.census });
      // Work that ends after the response (storing a result) must still be seen.
      await sleep(300);
      const n = Math.max(1, c.requests.total);
      census = { requests: n, topLevel: perRequest(await postgres.statementStats(), n), inLua: {} };
    } else if (withCensus && config.census > 0) {
      const {
        result: c,
        topLevel,
        inLua,
      } = await redis.census(() =>
        drive(app.port, target.workload, sameKey, { amount: config.census }),
      );
      const n = Math.max(1, c.requests.total);
      census = { requests: n, topLevel: perRequest(topLevel, n), inLua: perRequest(inLua, n) };
    }
    return { status: 'ok', measured, bareMeasured, census };
  } catch (error) {
    return { status: 'failed', reason: error?.message ?? String(error) };
  } finally {
    for (const app of started) await app.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Machine and versions

function machine() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {
    // Not Linux: os.cpus() has it.
  }
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel.trim(),
    memoryGiB: totalmem() / 2 ** 30,
    freeMemoryGiB: freemem() / 2 ** 30,
    loadAverage: loadavg(),
    platform: `${process.platform} ${process.arch}`,
  };
}

function gitRevision() {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT_DIR })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT_DIR })
      .toString()
      .trim();
    return dirty ? `${rev} + uncommitted changes in src/` : rev;
  } catch {
    return 'unknown';
  }
}

/** Writes RESULTS.md (keeping the in-memory store's section) and results.svg. */
function writeReport(report) {
  const resultsFile = join(BENCH_DIR, 'RESULTS.md');
  const previous = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '';
  const memory = MEMORY_SECTION.exec(previous)?.[0];
  writeFileSync(resultsFile, renderMarkdown(report, memory));
  writeFileSync(join(BENCH_DIR, 'results.svg'), renderSvg(report));
  log('wrote bench/RESULTS.md and bench/results.svg');
}

// ---------------------------------------------------------------------------------------------
// Main

// `node bench/run.mjs --render`: rewrite RESULTS.md and results.svg from results/latest.json
// (after a change to the report's format), without measuring anything.
if (process.argv.includes('--render')) {
  const report = JSON.parse(readFileSync(join(RESULTS_DIR, 'latest.json'), 'utf8'));
  writeReport(report);
  process.exit(0);
}

const tollgateVersion = installBuiltLibrary();
const selected = selectTargets();
const redis = await startRedis();
const postgres = selected.some((t) => t.store === 'postgres') ? await startPostgres() : undefined;
const stores = { redis, postgres };
const started = new Date();
const info = {
  date: started.toISOString(),
  machine: machine(),
  node: process.version,
  redis: redis.version,
  ...(postgres ? { postgres: postgres.version } : {}),
  tollgate: `${tollgateVersion} (${gitRevision()}, built ${libraryBuiltAt().slice(0, 16).replace('T', ' ')} UTC)`,
  autocannon: installedVersion('autocannon'),
  config: { ...config, profile: undefined },
  versions: Object.fromEntries(
    [...new Set(selected.flatMap((t) => t.packages))].sort().map((p) => [p, installedVersion(p)]),
  ),
};
log(
  `tollgate bench: ${selected.length} targets × ${config.profile ? 1 : config.rounds} rounds, ` +
    `${config.connections} connections, ${config.warmup} s warm-up + ${config.duration} s measured; ` +
    `Node ${info.node}, Redis ${info.redis}, ${info.machine.nproc} CPUs (${info.machine.cpuModel}), ` +
    `load average ${info.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
);

// Ctrl-C or a kill: stop the app and Redis rather than leave them running.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    log(`\n${signal}: stopping`);
    for (const child of runningApps) child.kill('SIGKILL');
    Promise.allSettled([redis.stop(), postgres?.stop()]).finally(() => process.exit(130));
  });
}

const results = new Map(selected.map((t) => [t.id, { target: t, rounds: [] }]));
const logMeasured = (round, id, m, target = results.get(id)?.target ?? {}) => {
  const flags = m.non2xx + m.errors + m.timeouts > 0;
  log(
    `[round ${round}] ${id.padEnd(30)} ${m.rps.toFixed(0).padStart(7)} req/s  ` +
      (m.bareRps ? `× bare ${(m.rps / m.bareRps).toFixed(2)}  ` : '') +
      `p50 ${m.p50} ms  p99 ${m.p99} ms  ` +
      `CPU/req app ${m.appCpu.toFixed(0)} µs, store ${m.storeCpu.toFixed(0)} µs  ` +
      `${Object.values(m.commandsPerRequest)
        .reduce((a, b) => a + b, 0)
        .toFixed(2)} ${target.store === 'postgres' ? 'SQL statements' : 'Redis cmds'}/req` +
      (flags ? `  !! ${m.non2xx} non-2xx, ${m.errors} errors, ${m.timeouts} timeouts` : ''),
  );
};
// The bare apps are measured beside every other target; alone only when nothing else is selected.
const protectedTargets = selected.filter((t) => t.section !== 'bare');
const scheduled = protectedTargets.length > 0 ? protectedTargets : selected;
try {
  const rounds = config.profile ? 1 : config.rounds;
  for (let round = 1; round <= rounds; round++) {
    // Interleaved: every target once per round, the order rotated so no target always runs first.
    const shift = (round - 1) % scheduled.length;
    const order = [...scheduled.slice(shift), ...scheduled.slice(0, shift)];
    for (const target of order) {
      const entry = results.get(target.id);
      if (entry.status === 'skipped') continue;
      const outcome = await runOnce(target, stores, round, entry.census === undefined);
      if (outcome.status === 'ok') {
        entry.rounds.push(outcome.measured);
        entry.census ??= outcome.census;
        if (outcome.bareMeasured) {
          results.get(bareOf(target))?.rounds.push(outcome.bareMeasured);
          logMeasured(round, `${bareOf(target)} (beside it)`, outcome.bareMeasured);
        }
        logMeasured(round, target.id, outcome.measured);
      } else {
        entry.status = outcome.status;
        entry.reason = outcome.reason;
        log(`[round ${round}] ${target.id.padEnd(30)} ${outcome.status}: ${outcome.reason}`);
      }
    }
  }
} finally {
  await redis.stop();
  await postgres?.stop();
}

// Ratios to the bare app of the same framework, measured beside the target in the same slices.
for (const entry of results.values()) {
  const isBare = entry.target.section === 'bare';
  for (const m of entry.rounds) {
    m.ratio = isBare ? 1 : m.bareRps ? m.rps / m.bareRps : null;
  }
  if (entry.rounds.length === 0) {
    entry.status ??= 'failed';
    continue;
  }
  // A target that worked in some rounds keeps those; the failure is still reported.
  entry.status = entry.status === undefined ? 'ok' : `${entry.status} in some rounds`;
  entry.median = {
    rps: median(entry.rounds.map((m) => m.rps)),
    ratio: median(entry.rounds.map((m) => m.ratio).filter((r) => r !== null)),
    p50: median(entry.rounds.map((m) => m.p50)),
    p99: median(entry.rounds.map((m) => m.p99)),
    appCpu: median(entry.rounds.map((m) => m.appCpu)),
    storeCpu: median(entry.rounds.map((m) => m.storeCpu)),
    commandsPerRequest: median(
      entry.rounds.map((m) => Object.values(m.commandsPerRequest).reduce((a, b) => a + b, 0)),
    ),
    problems: entry.rounds.reduce((n, m) => n + m.non2xx + m.errors + m.timeouts, 0),
  };
}

const report = { info, sections: SECTIONS, results: [...results.values()] };
mkdirSync(RESULTS_DIR, { recursive: true });
// A profiled run is no result (the profiler slows the app): it never replaces latest.json.
const rawName = config.profile ? `profile-${config.profile}.json` : 'latest.json';
writeFileSync(join(RESULTS_DIR, rawName), JSON.stringify(report, null, 2) + '\n');
log(`\nraw results: ${join('bench', 'results', rawName)}`);

if (config.profile) {
  const file = join(PROFILE_DIR, `${config.profile}.cpuprofile`);
  if (existsSync(file)) {
    log(`\nCPU profile: ${join('bench', 'results', 'profiles', `${config.profile}.cpuprofile`)}`);
    const served = results.get(config.profile).rounds[0]?.served;
    log(formatSummary(summariseProfile(file, 20), served));
  } else {
    log('\nno CPU profile was written (did the app start?)');
  }
} else if (selected.length === TARGETS.length || env.BENCH_WRITE === '1') {
  writeReport(report);
} else {
  log('a filtered run: RESULTS.md and results.svg left as they were (BENCH_WRITE=1 writes them)');
}
