/**
 * PostgresStore on a real PostgreSQL (a throwaway cluster, test/helpers/postgres-server.ts): the
 * idempotency, lease and health contracts of `tollgate/testing`, its transactional section, one
 * take among many concurrent ones across pools, the schema, clean-up, and a paused database.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IdempotencyEngine } from '../../src/core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';
import { ExclusiveLeases } from '../../src/core/lease/exclusive.js';
import { throttle } from '../../src/express.js';
import { postgresMigration, PostgresStore } from '../../src/postgres.js';
import {
  healthStoreContract,
  idempotencyStoreContract,
  leaseStoreContract,
  transactionalStoreContract,
} from '../../src/testing.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';

const vitest = { describe, it, expect };
let server: PostgresServer;
let pool: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 20 });
  store = new PostgresStore({ pool });
  await store.ensureSchema();
  await store.ready();
}, 60_000);

afterAll(async () => {
  await store?.close();
  await pool?.end();
  await server?.stop();
});

const real = (ms: number): Promise<void> => sleep(ms);
const subject = () => ({ store, elapse: real });
idempotencyStoreContract(vitest, 'PostgresStore', subject);
leaseStoreContract(vitest, 'PostgresStore', subject);
healthStoreContract(vitest, 'PostgresStore', subject);
transactionalStoreContract(vitest, 'PostgresStore', subject);

describe('PostgresStore', () => {
  it('grants one lease among 100 concurrent takes from two pools (two app processes)', async () => {
    const other = new PostgresStore({ connectionString: server.url, poolOptions: { max: 20 } });
    try {
      const key = `concurrent:${Math.random()}`;
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          (i % 2 ? store : other).begin(key, `owner-${i}`, 'fp', 10_000),
        ),
      );
      expect(results.filter((r) => r.state === 'acquired')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'in-progress')).toHaveLength(99);
    } finally {
      await other.close();
    }
  });

  it('creates its schema idempotently, from several processes at once', async () => {
    const url = await server.createDatabase();
    const stores = [1, 2, 3].map(() => new PostgresStore({ connectionString: url }));
    try {
      await Promise.all(stores.map((s) => s.ensureSchema()));
      await (stores[0] as PostgresStore).ensureSchema();
      expect((await (stores[0] as PostgresStore).health()).status).toBe('up');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('fails ensureSchema, without crashing the process, when its connection drops mid-way', async () => {
    // Another process holds the schema lock, so ensureSchema waits on its connection; the server
    // then drops that connection (a restart, an administrator): an 'error' event on the client.
    const holder = await pool.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('tollgate:ensureSchema'))");
      const ensuring = store.ensureSchema().then(
        () => undefined,
        (error: unknown) => error,
      );
      for (let waited = 0; ; waited += 50) {
        const waiting = await server.sql(
          "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_advisory_xact_lock%' AND wait_event_type = 'Lock'",
          'tollgate',
        );
        if (waiting === '1' || waited > 5_000) break;
        await sleep(50);
      }
      await server.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_advisory_xact_lock%' AND wait_event_type = 'Lock'",
        'tollgate',
      );
      expect(await ensuring).toBeInstanceOf(Error);
      // Let the client's 'error' event (emitted after the failed query) come and go.
      await sleep(200);
    } finally {
      await holder.query("SELECT pg_advisory_unlock(hashtext('tollgate:ensureSchema'))");
      holder.release();
    }
    await store.ensureSchema();
  });

  it('issues tokens near the clock in microseconds, as every store does: above those of a store it replaces', async () => {
    const taken = await store.begin(`clock:${Math.random()}`, 'a', 'fp', 5_000);
    const token = taken.state === 'acquired' ? taken.fencingToken : 0;
    expect(token).toBeGreaterThan((Date.now() - 3_600_000) * 1000);
    expect(Number.isSafeInteger(token)).toBe(true);
  });

  it('never moves its token sequence back when the migration runs during takes, the sequence ahead of the clock', async () => {
    const table = `race_${Math.random().toString(36).slice(2, 8)}`;
    const racing = new PostgresStore({ pool, table, cleanupInterval: false });
    await racing.ensureSchema();
    // The database's clock is now behind tokens it already issued (stepped back by NTP, a VM
    // restored from a snapshot): the sequence is ahead of the clock.
    await pool.query(
      `SELECT setval('"${table}_fencing_token"', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 1000000000000)`,
    );
    const tokens: number[] = [];
    let migrating = true;
    const takers = Array.from({ length: 8 }, async () => {
      while (migrating) {
        const taken = await racing.begin(`race:${Math.random()}`, 'o', 'fp', 5_000);
        if (taken.state === 'acquired') tokens.push(taken.fencingToken);
      }
    });
    // Processes starting during a rolling deploy, each running the migration.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 100; i++) await pool.query(racing.migration);
      }),
    );
    migrating = false;
    await Promise.all(takers);
    expect(tokens.length).toBeGreaterThan(100);
    expect(tokens.length - new Set(tokens).size).toBe(0);
  });

  it('publishes the migration it runs, for a schema-qualified table too', () => {
    expect(postgresMigration()).toContain('CREATE TABLE IF NOT EXISTS "tollgate_idempotency"');
    expect(postgresMigration({ table: 'app.keys' })).toContain('"app"."keys"');
    expect(() => new PostgresStore({ pool, table: 'bad; drop table x' })).toThrow(
      /TOLLGATE_INVALID_OPTION/,
    );
  });

  it('reports a missing table as down, naming the fix', async () => {
    const url = await server.createDatabase();
    const bare = new PostgresStore({ connectionString: url });
    try {
      const health = await bare.health();
      expect(health.status).toBe('down');
      expect(health.detail).toMatch(/ensureSchema/);
    } finally {
      await bare.close();
    }
  });

  it('hides the password in its location, and closes only a pool it opened', async () => {
    const own = new PostgresStore({ connectionString: server.url });
    expect(own.location).toMatch(/^postgres:\/\/tollgate:\*\*\*@127\.0\.0\.1:\d+\/tollgate$/);
    await own.close();
    expect(store.location).toMatch(/^postgres:\/\/tollgate:\*\*\*@/);
    const borrowed = new PostgresStore({ pool });
    await borrowed.close();
    expect((await pool.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
  });

  it('deletes expired rows without a cron of yours, in bounded batches', async () => {
    const key = `expiring:${Math.random()}`;
    await store.begin(key, 'a', 'fp', 50);
    await sleep(120);
    expect(await store.purgeExpired()).toBeGreaterThanOrEqual(1);
    const { rows } = await pool.query('SELECT 1 FROM tollgate_idempotency WHERE key = $1', [key]);
    expect(rows).toHaveLength(0);
    // Tokens come from a sequence: a key deleted and taken again still gets a greater token.
    const first = await store.begin(`${key}:2`, 'a', 'fp', 50);
    await sleep(120);
    await store.purgeExpired();
    const second = await store.begin(`${key}:2`, 'b', 'fp', 5_000);
    expect(first.state === 'acquired' && second.state === 'acquired').toBe(true);
    if (first.state === 'acquired' && second.state === 'acquired') {
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    }
  });

  it('runs exclusive leases: one holder, handed over on release', async () => {
    const leases = new ExclusiveLeases(store);
    const first = await leases.tryAcquire('pg-lease', { ttl: '2s' });
    expect(first).toBeDefined();
    expect(await leases.tryAcquire('pg-lease', { ttl: '2s' })).toBeUndefined();
    await first?.release();
    const second = await leases.tryAcquire('pg-lease', { ttl: '2s' });
    expect(second?.fencingToken).toBeGreaterThan(first?.fencingToken ?? Infinity);
    await second?.release();
  });

  it('refuses rate limiting at start-up, naming the fix', () => {
    let refused: unknown;
    try {
      throttle({ store, limits: { burst: { limit: 3, ttl: '1s' } } });
    } catch (error) {
      refused = error;
    }
    expect((refused as { code?: string }).code).toBe('TOLLGATE_STORE_CANNOT_RATE_LIMIT');
    expect((refused as Error).message).toMatch(/PostgresStore.*throttle\.store/);
  });

  it('answers a request 503 within its store timeout while the database is paused, and frees the key its late take holds', async () => {
    // One connection: the release sent behind the abandoned take cannot get one, and fails, as
    // on a busy pool; the take itself runs once the server resumes.
    const small = new PostgresStore({
      connectionString: server.url,
      poolOptions: { max: 1, connectionTimeoutMillis: 300 },
    });
    await small.ready();
    const engine = new IdempotencyEngine(small, { onEvent: () => undefined });
    const policy = resolveIdempotencyPolicy({ storeTimeout: '500ms', lease: '30s' }, undefined, {
      decorated: true,
    });
    const key = `paused-${Math.random()}`;
    const request = {
      method: 'POST',
      route: '/payments',
      scope: undefined,
      header: (name: string) => (name === 'idempotency-key' ? key : undefined),
      query: () => undefined,
      body: { amount: 1 },
    };
    server.pause();
    let resumed = false;
    try {
      const started = performance.now();
      const decision = await engine.begin(request, policy);
      // The store timeout, and the deadline sweep's 20 ms, with slack for a loaded machine.
      expect(performance.now() - started).toBeLessThan(1_500);
      expect(decision.action === 'reject' && decision.error.status).toBe(503);
      await sleep(500);
      server.resume();
      resumed = true;
      // The take still queued on the paused server lands now; it must not hold the key for the
      // 30 s lease: the retry runs within moments.
      let retry = await engine.begin(request, policy);
      for (let i = 0; i < 30 && retry.action !== 'proceed'; i++) {
        await sleep(100);
        retry = await engine.begin(request, policy);
      }
      expect(retry.action).toBe('proceed');
      if (retry.action === 'proceed') await retry.execution.abandon();
    } finally {
      if (!resumed) server.resume();
      await small.close();
    }
  });

  it('fails a call within its query timeout while the database is paused, never hangs', async () => {
    const quick = new PostgresStore({
      connectionString: server.url,
      queryTimeout: '500ms',
      poolOptions: { connectionTimeoutMillis: 500 },
    });
    await quick.ready();
    server.pause();
    try {
      const started = performance.now();
      await expect(quick.begin(`paused:${Math.random()}`, 'a', 'fp', 5_000)).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(2_000);
      const health = await quick.health({ timeoutMs: 300 });
      expect(health.status).toBe('down');
    } finally {
      server.resume();
      await quick.close();
    }
  });
});
