/**
 * What the bench measures: every target is one app, started on its own in a child process, serving
 * `POST /orders` with a small JSON body. Shared by the runner (bench/run.mjs) and the app
 * process (bench/apps/server.mjs).
 */

/** The limit of every rate-limit target: high enough that no request of a run is ever rejected. */
export const HIGH_LIMIT = 1_000_000_000;

export const ROUTE = '/orders';
export const BODY = JSON.stringify({ item: 'book', amount: 12 });

/**
 * What the client sends: `plain` (no key), `fresh-key` (a new Idempotency-Key on every request,
 * so every request is a first execution) or `same-key` (one key for the whole run, so every
 * request after the first is a replay).
 */
export const WORKLOADS = ['plain', 'fresh-key', 'same-key'];

/** Rows of the table, in order; `goal` is issue 5's target ratio to the bare app, if it has one. */
export const SECTIONS = [
  { id: 'bare', title: 'Bare apps (no protection): the baseline of each framework', goal: null },
  {
    id: 'reference',
    title: 'Reference: a Nest interceptor and a Nest guard that do nothing (no Redis)',
    goal: null,
  },
  {
    id: 'ratelimit',
    title: 'Rate limiting, one limit (set so high nothing is rejected)',
    goal: 0.9,
  },
  { id: 'idempotency', title: 'Idempotency, a fresh key per request (first execution)', goal: 0.8 },
  { id: 'replay', title: 'Idempotency replay (the same key on every request)', goal: 0.9 },
  { id: 'multi', title: 'Rate limiting, three named limits on one route', goal: 0.9 },
  {
    id: 'refused',
    title: 'Rate limiting, a client over its limit (429 on every request)',
    goal: null,
  },
];

/**
 * `packages`: whose versions the results name. `tollgate: true` marks Tollgate's own rows (drawn
 * in colour in the chart). `store: 'postgres'`: the app keeps its records in PostgreSQL, not
 * Redis (the runner then starts a PostgreSQL cluster too).
 */
export const TARGETS = [
  {
    id: 'nest-bare',
    section: 'bare',
    framework: 'nest',
    label: 'NestJS 12, bare',
    workload: 'plain',
    packages: ['@nestjs/core', '@nestjs/platform-express'],
  },
  {
    id: 'express-bare',
    section: 'bare',
    framework: 'express',
    label: 'Express 5, bare',
    workload: 'plain',
    packages: ['express'],
  },
  // What Nest itself charges any library that hooks a route, before the library does any work.
  {
    id: 'nest-noop-interceptor',
    section: 'reference',
    framework: 'nest',
    label: 'NestJS 12, one interceptor that only returns next.handle()',
    workload: 'plain',
    packages: [],
  },
  {
    id: 'nest-noop-guard',
    section: 'reference',
    framework: 'nest',
    label: 'NestJS 12, one async guard that only returns true',
    workload: 'plain',
    packages: [],
  },
  {
    id: 'tollgate-nest-throttle',
    section: 'ratelimit',
    framework: 'nest',
    label: 'Tollgate @Throttle (Nest), fixed window',
    workload: 'plain',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-nest-throttle-sliding',
    section: 'ratelimit',
    framework: 'nest',
    label: 'Tollgate @Throttle (Nest), default sliding window',
    workload: 'plain',
    tollgate: true,
    packages: [],
  },
  // A limit that is an async function of the request (a plan read from a header): the cost of
  // resolving and checking it per request, beside the fixed-limit row above.
  {
    id: 'tollgate-nest-throttle-dynamic',
    section: 'ratelimit',
    framework: 'nest',
    label: 'Tollgate @Throttle (Nest), fixed window, async limit per request',
    workload: 'plain',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-express-throttle',
    section: 'ratelimit',
    framework: 'express',
    label: 'Tollgate throttle() (Express), fixed window',
    workload: 'plain',
    tollgate: true,
    packages: [],
  },
  {
    id: 'nestjs-throttler',
    section: 'ratelimit',
    framework: 'nest',
    label: '@nestjs/throttler + @nest-lab/throttler-storage-redis',
    workload: 'plain',
    packages: ['@nestjs/throttler', '@nest-lab/throttler-storage-redis'],
  },
  {
    id: 'express-rate-limit',
    section: 'ratelimit',
    framework: 'express',
    label: 'express-rate-limit + rate-limit-redis',
    workload: 'plain',
    packages: ['express-rate-limit', 'rate-limit-redis'],
  },
  {
    id: 'rate-limiter-flexible',
    section: 'ratelimit',
    framework: 'express',
    label: 'rate-limiter-flexible (RateLimiterRedis)',
    workload: 'plain',
    packages: ['rate-limiter-flexible'],
  },
  {
    id: 'tollgate-nest-idempotency',
    section: 'idempotency',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest)',
    workload: 'fresh-key',
    tollgate: true,
    packages: [],
  },
  // The same Nest app on PostgresStore (tollgate/postgres) instead of RedisStore: `store` makes the
  // runner start PostgreSQL and give the app its URL.
  {
    id: 'tollgate-nest-idempotency-postgres',
    section: 'idempotency',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest), PostgresStore',
    workload: 'fresh-key',
    tollgate: true,
    store: 'postgres',
    packages: ['pg'],
  },
  {
    id: 'tollgate-express-idempotency',
    section: 'idempotency',
    framework: 'express',
    label: 'Tollgate idempotent() (Express)',
    workload: 'fresh-key',
    tollgate: true,
    packages: [],
  },
  // The same two rows with Tollgate's events recorded through the OpenTelemetry metrics SDK:
  // what turning on `openTelemetryEvents()` costs a first execution.
  {
    id: 'tollgate-nest-idempotency-otel',
    section: 'idempotency',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest), OpenTelemetry metrics on',
    workload: 'fresh-key',
    tollgate: true,
    packages: ['@opentelemetry/api', '@opentelemetry/sdk-metrics'],
  },
  {
    id: 'tollgate-express-idempotency-otel',
    section: 'idempotency',
    framework: 'express',
    label: 'Tollgate idempotent() (Express), OpenTelemetry metrics on',
    workload: 'fresh-key',
    tollgate: true,
    packages: ['@opentelemetry/api', '@opentelemetry/sdk-metrics'],
  },
  {
    id: 'node-idempotency-nest',
    section: 'idempotency',
    framework: 'nest',
    label: '@node-idempotency/nestjs + storage-adapter-redis',
    workload: 'fresh-key',
    packages: ['@node-idempotency/nestjs', '@node-idempotency/storage-adapter-redis'],
  },
  {
    id: 'express-idempotency',
    section: 'idempotency',
    framework: 'express',
    label: 'express-idempotency + express-idempotency-redis-adapter',
    workload: 'fresh-key',
    packages: ['express-idempotency', 'express-idempotency-redis-adapter'],
  },
  {
    id: 'tollgate-nest-replay',
    section: 'replay',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest), replay',
    workload: 'same-key',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-nest-replay-postgres',
    section: 'replay',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest), PostgresStore, replay',
    workload: 'same-key',
    tollgate: true,
    store: 'postgres',
    packages: ['pg'],
  },
  {
    id: 'tollgate-express-replay',
    section: 'replay',
    framework: 'express',
    label: 'Tollgate idempotent() (Express), replay',
    workload: 'same-key',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-nest-replay-cached',
    section: 'replay',
    framework: 'nest',
    label: 'Tollgate @Idempotent (Nest), replay from the result cache',
    workload: 'same-key',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-express-replay-cached',
    section: 'replay',
    framework: 'express',
    label: 'Tollgate idempotent() (Express), replay from the result cache',
    workload: 'same-key',
    tollgate: true,
    packages: [],
  },
  {
    id: 'tollgate-nest-throttle-3',
    section: 'multi',
    framework: 'nest',
    label: 'Tollgate @Throttle, 3 named limits (Nest), fixed windows',
    workload: 'plain',
    tollgate: true,
    packages: [],
  },
  {
    id: 'nestjs-throttler-3',
    section: 'multi',
    framework: 'nest',
    label: '@nestjs/throttler, 3 named throttlers (Redis storage)',
    workload: 'plain',
    packages: ['@nestjs/throttler', '@nest-lab/throttler-storage-redis'],
  },
];

/**
 * A client over its limit: a limit of 1 per hour, so the probe's first request passes and every
 * later one is answered 429 (`refused`: the status each row is expected to send).
 */
export const REFUSED_LIMIT = 1;

for (const [id, framework, label, packages, tollgate] of [
  ['tollgate-nest-throttle-refused', 'nest', 'Tollgate @Throttle (Nest), block cache on', [], true],
  [
    'tollgate-express-throttle-refused',
    'express',
    'Tollgate throttle() (Express), block cache on',
    [],
    true,
  ],
  [
    'nestjs-throttler-refused',
    'nest',
    '@nestjs/throttler + @nest-lab/throttler-storage-redis',
    ['@nestjs/throttler', '@nest-lab/throttler-storage-redis'],
    false,
  ],
  [
    'express-rate-limit-refused',
    'express',
    'express-rate-limit + rate-limit-redis',
    ['express-rate-limit', 'rate-limit-redis'],
    false,
  ],
]) {
  TARGETS.push({
    id,
    section: 'refused',
    framework,
    label,
    workload: 'plain',
    refused: true,
    ...(tollgate ? { tollgate: true } : {}),
    packages,
  });
}

/** The bare app a target is compared with: the same framework, measured in the same round. */
export function bareOf(target) {
  return target.framework === 'nest' ? 'nest-bare' : 'express-bare';
}
