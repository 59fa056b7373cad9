/**
 * The handler's writes and Tollgate's record in one PostgreSQL transaction, on a real server: by
 * `lease.transaction()` (the store's pool) and by `lease.recordIn()` in a transaction the app
 * opened with node-postgres, Knex or Kysely. Each test counts ledger rows, not answers: a commit
 * leaves the row and the record, a rollback neither, and a committed request never runs again.
 */
import { randomUUID } from 'node:crypto';

import knexFactory, { type Knex } from 'knex';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IdempotencyEngine, type IdempotencyDecision } from '../../src/core/idempotency/engine.js';
import { resolveIdempotencyPolicy } from '../../src/core/idempotency/options.js';
import type { IdempotencyLease } from '../../src/core/lease/lease.js';
import { TollgateConfigError, TollgateHttpError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { PostgresStore } from '../../src/postgres.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';

let server: PostgresServer;
let pool: pg.Pool;
let store: PostgresStore;
let engine: IdempotencyEngine;
let knex: Knex;
let kysely: Kysely<{ payments: { id: number; key: string; amount: number } }>;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 10 });
  store = new PostgresStore({ pool, queryTimeout: '2s' });
  await store.ensureSchema();
  await pool.query('CREATE TABLE payments (id serial PRIMARY KEY, key text NOT NULL, amount int)');
  engine = new IdempotencyEngine(store, { onEvent: () => undefined });
  knex = knexFactory({ client: 'pg', connection: server.url, pool: { min: 0, max: 4 } });
  kysely = new Kysely({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.url, max: 4 }) }),
  });
}, 60_000);

afterAll(async () => {
  await knex?.destroy();
  await kysely?.destroy();
  await store?.close();
  await pool?.end();
  await server?.stop();
});

const policy = resolveIdempotencyPolicy({ lease: '2s' }, undefined, { decorated: true });

/** One request with this key, as an adapter describes it. */
function begin(key: string, amount = 10): Promise<IdempotencyDecision> {
  const headers: Record<string, string> = { 'idempotency-key': key };
  return engine.begin(
    {
      method: 'POST',
      route: '/payments',
      scope: undefined,
      header: (name) => headers[name],
      query: () => undefined,
      body: { amount },
    },
    policy,
  );
}

async function proceed(key: string) {
  const decision = await begin(key);
  if (decision.action !== 'proceed') throw new Error(`expected to run, got ${decision.action}`);
  decision.execution.resultStatus = 201;
  return decision.execution;
}

async function ledger(key: string): Promise<number> {
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM payments WHERE key = $1', [
    key,
  ]);
  return (rows[0] as { n: number }).n;
}

interface Payment {
  id: number;
  amount: number;
}

/** Writes one ledger row and records the payment, in one transaction, each way a handler can. */
type Way = (lease: IdempotencyLease, key: string, during?: () => Promise<void>) => Promise<Payment>;

const ways: Record<string, Way> = {
  'pg, lease.transaction()': (lease, key, during) =>
    lease.transaction(
      async (client: pg.PoolClient) => {
        const { rows } = await client.query<{ id: number }>(
          'INSERT INTO payments (key, amount) VALUES ($1, 10) RETURNING id',
          [key],
        );
        await during?.();
        return { id: (rows[0] as { id: number }).id, amount: 10 };
      },
      { status: 201, headers: { location: '/payments/1' } },
    ),
  'pg, BEGIN + lease.recordIn(client)': async (lease, key, during) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: number }>(
        'INSERT INTO payments (key, amount) VALUES ($1, 10) RETURNING id',
        [key],
      );
      await during?.();
      const payment = await lease.recordIn(
        client,
        { id: (rows[0] as { id: number }).id, amount: 10 },
        { status: 201, headers: { location: '/payments/1' } },
      );
      await client.query('COMMIT');
      return payment;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  },
  'Knex trx + lease.recordIn(trx)': (lease, key, during) =>
    knex.transaction(async (trx) => {
      const [row] = (await trx('payments').insert({ key, amount: 10 }).returning('id')) as Array<{
        id: number;
      }>;
      await during?.();
      return lease.recordIn(
        trx,
        { id: (row as { id: number }).id, amount: 10 },
        { status: 201, headers: { location: '/payments/1' } },
      );
    }),
  'Kysely transaction + lease.recordIn(trx)': (lease, key, during) =>
    kysely.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('payments')
        .values({ key, amount: 10 } as never)
        .returning('id')
        .executeTakeFirstOrThrow();
      await during?.();
      return lease.recordIn(
        trx,
        { id: row.id, amount: 10 },
        { status: 201, headers: { location: '/payments/1' } },
      );
    }),
};

describe.each(Object.entries(ways))('%s', (_name, pay) => {
  it('commits the row and the record together: a retry after a crash past the commit is answered from the record', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const payment = await pay(execution.lease, key);
    // The process dies here: its response is never recorded (no finish()).
    expect(await ledger(key)).toBe(1);
    const retry = await begin(key);
    expect(retry.action).toBe('replay');
    if (retry.action !== 'replay') return;
    expect(retry.committed?.value).toEqual(payment);
    expect(retry.response.status).toBe(201);
    expect(retry.response.headers).toEqual([
      ['content-type', 'application/json; charset=utf-8'],
      ['location', '/payments/1'],
    ]);
    expect(JSON.parse(Buffer.from(retry.response.body).toString('utf8'))).toEqual(payment);
    expect(await ledger(key)).toBe(1);
  });

  it('records the response over the committed result when the handler finishes', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    await pay(execution.lease, key);
    await execution.finish({
      status: 201,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"exact":"bytes"}'),
    });
    const retry = await begin(key);
    expect(retry.action === 'replay' && retry.committed).toBeUndefined();
    expect(retry.action === 'replay' && Buffer.from(retry.response.body).toString()).toBe(
      '{"exact":"bytes"}',
    );
  });

  it('keeps the committed result when the handler fails after its commit', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    await pay(execution.lease, key);
    // A 500 after the commit releases only an in-progress key: the result stays.
    await execution.finish({ status: 500, headers: {}, body: Buffer.from('oops') });
    const retry = await begin(key);
    expect(retry.action === 'replay' && retry.response.status).toBe(201);
    expect(await ledger(key)).toBe(1);
  });

  it('rolls both back when the work throws: the key is released and the retry runs once', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    await expect(
      pay(execution.lease, key, async () => {
        throw new Error('card declined');
      }),
    ).rejects.toThrow('card declined');
    await execution.abandon();
    expect(await ledger(key)).toBe(0);
    const retry = await proceed(key);
    await pay(retry.lease, key);
    expect(await ledger(key)).toBe(1);
    expect((await begin(key)).action).toBe('replay');
  });

  it('rolls back when the lease was lost before the commit: a 409, and no row', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const failure = await pay(execution.lease, key, async () => {
      // Another process took the key over (this one stalled past its lease).
      await pool.query(
        "UPDATE tollgate_idempotency SET owner = 'other' WHERE state = 'in-progress'",
      );
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TollgateHttpError);
    expect((failure as TollgateHttpError).code).toBe('TOLLGATE_LEASE_LOST');
    expect(execution.lease.held).toBe(false);
    expect(await ledger(key)).toBe(0);
  });
});

describe('transactional completion', () => {
  it('refuses a store without transactions, naming the fix', async () => {
    const memory = new IdempotencyEngine(new MemoryStore(), { onEvent: () => undefined });
    const decision = await memory.begin(
      {
        method: 'POST',
        route: '/payments',
        scope: undefined,
        header: (name) => (name === 'idempotency-key' ? 'k' : undefined),
        query: () => undefined,
        body: {},
      },
      policy,
    );
    if (decision.action !== 'proceed') throw new Error(decision.action);
    const error = await decision.execution.lease
      .transaction(async () => 1)
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TollgateConfigError);
    expect((error as TollgateConfigError).code).toBe('TOLLGATE_TRANSACTION_UNAVAILABLE');
    expect((error as Error).message).toMatch(/PostgresStore/);
  });

  it('refuses what is not a transaction: a pool, a client outside BEGIN, Knex and Kysely themselves', async () => {
    const client = await pool.connect();
    try {
      for (const notATransaction of [pool, client, knex, kysely, {}]) {
        const execution = await proceed(randomUUID());
        const error = await execution.lease
          .recordIn(notATransaction, { id: 1 })
          .catch((thrown: unknown) => thrown);
        expect((error as TollgateConfigError).code).toBe('TOLLGATE_UNKNOWN_TRANSACTION');
        await execution.abandon();
      }
    } finally {
      client.release();
    }
  });

  it('refuses a pg client outside BEGIN when the driver cannot tell its transaction status (pg before 8.21, pg-native)', async () => {
    for (const status of [undefined, () => null]) {
      const key = randomUUID();
      const execution = await proceed(key);
      const client = await pool.connect();
      // pg before 8.21 has no getTransactionStatus(); pg-native's answers null.
      Object.defineProperty(client, 'getTransactionStatus', { value: status, configurable: true });
      try {
        const error = await execution.lease
          .recordIn(client, { id: 1 })
          .catch((thrown: unknown) => thrown);
        expect((error as TollgateConfigError).code).toBe('TOLLGATE_UNKNOWN_TRANSACTION');
        // Nothing committed on its own: the key is still in progress, and a retry waits.
        expect((await begin(key)).action).toBe('reject');
        // The same client in a transaction records as usual.
        const again = await proceed(randomUUID());
        await client.query('BEGIN');
        await again.lease.recordIn(client, { id: 2 });
        await client.query('COMMIT');
      } finally {
        delete (client as unknown as Record<string, unknown>).getTransactionStatus;
        client.release();
      }
    }
  });

  it('stores no response over a record whose transaction the app did not commit: the retry runs again', async () => {
    for (const end of ['ROLLBACK', 'COMMIT after a failed statement'] as const) {
      const key = randomUUID();
      const events: string[] = [];
      const watched = new IdempotencyEngine(store, { onEvent: (event) => events.push(event.type) });
      const decision = await watched.begin(
        {
          method: 'POST',
          route: '/payments',
          scope: undefined,
          header: (name) => ({ 'idempotency-key': key })[name],
          query: () => undefined,
          body: { amount: 10 },
        },
        policy,
      );
      if (decision.action !== 'proceed') throw new Error(`expected to run, got ${decision.action}`);
      const execution = decision.execution;
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
        await execution.lease.recordIn(client, { id: 1 });
        if (end === 'ROLLBACK') {
          await client.query('ROLLBACK');
        } else {
          // The app swallows a failed statement; PostgreSQL answers its COMMIT with ROLLBACK.
          await client.query('SELECT 1 / 0').catch(() => undefined);
          const { command } = await client.query('COMMIT');
          expect(command).toBe('ROLLBACK');
        }
      } finally {
        client.release();
      }
      // The app answers 201 all the same.
      await execution.finish({
        status: 201,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"id":1}'),
      });
      expect(await ledger(key)).toBe(0);
      expect(events).toContain('record-rolled-back');
      // Nothing happened, so nothing is replayed: the retry runs.
      const retry = await proceed(key);
      await retry.lease.transaction(async (tx: pg.PoolClient) => {
        await tx.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
      });
      expect(await ledger(key)).toBe(1);
    }
  });

  it('writes the response over a record whose transaction commits after the response is sent', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
      await execution.lease.recordIn(client, { id: 1 });
      // The response is recorded while the transaction is still open: it waits for the commit.
      const finishing = execution.finish({
        status: 201,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"id":1,"sent":true}'),
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await client.query('COMMIT');
      await finishing;
    } finally {
      client.release();
    }
    const retry = await begin(key);
    expect(retry.action === 'replay' && Buffer.from(retry.response.body).toString()).toBe(
      '{"id":1,"sent":true}',
    );
    expect(await ledger(key)).toBe(1);
  });

  it('answers a 503, not the result, when its COMMIT only rolled back: a statement failed after the record', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const failure = await execution.lease
      .transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
        // A write the work forgot to await: it runs after the record, and fails. PostgreSQL then
        // answers the COMMIT with ROLLBACK, and no error.
        void client
          .query('SELECT 1')
          .then(() => client.query('SELECT 1/0'))
          .catch(() => undefined);
        return { ok: true };
      })
      .catch((error: unknown) => error);
    expect(await ledger(key)).toBe(0);
    expect((failure as TollgateHttpError).status).toBe(503);
    await execution.abandon();
    const retry = await proceed(key);
    await (ways['pg, lease.transaction()'] as Way)(retry.lease, key);
    expect(await ledger(key)).toBe(1);
  });

  it('fails with its own error, and rolls back, when the result is not JSON', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const failure = await execution.lease
      .transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
        return { amount: 10n };
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    await execution.abandon();
    expect(await ledger(key)).toBe(0);
  });

  it('lets recordIn try again after a result JSON cannot hold, and refuses one JSON.stringify drops', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await knex.transaction(async (trx) => {
      await trx('payments').insert({ key, amount: 10 });
      for (const notJson of [{ amount: 10n }, circular, () => 10, Symbol('10')]) {
        const error = await execution.lease.recordIn(trx, notJson).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TypeError);
      }
      // Nothing was recorded: the handler can still record its result, converted.
      await execution.lease.recordIn(trx, { amount: '10' });
    });
    const retry = await begin(key);
    expect(retry.action === 'replay' && retry.committed?.value).toEqual({ amount: '10' });
    expect(await ledger(key)).toBe(1);
  });

  it('refuses, naming why, a record once the request has finished, and keeps its response', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    await execution.finish({ status: 201, headers: {}, body: Buffer.from('{"id":1}') });
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const error = await execution.lease
        .recordIn(client, { id: 2 })
        .catch((thrown: unknown) => thrown);
      expect((error as TollgateConfigError).code).toBe('TOLLGATE_TRANSACTION_UNAVAILABLE');
      expect((error as Error).message).toMatch(/finished/);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const retry = await begin(key);
    expect(retry.action === 'replay' && Buffer.from(retry.response.body).toString()).toBe(
      '{"id":1}',
    );
  });

  it('records once per request', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    await execution.lease.transaction(async () => ({ ok: 1 }));
    const error = await execution.lease
      .transaction(async () => ({ ok: 2 }))
      .catch((thrown: unknown) => thrown);
    expect((error as TollgateConfigError).code).toBe('TOLLGATE_TRANSACTION_UNAVAILABLE');
  });

  it('answers a COMMIT that a paused database never acknowledges with a 503 within the store timeout', async () => {
    // A query timeout well above the store timeout: the request must not wait for it.
    const own = new pg.Pool({
      connectionString: server.url,
      max: 4,
      connectionTimeoutMillis: 2_000,
    });
    const slow = new PostgresStore({ pool: own, queryTimeout: '6s', cleanupInterval: false });
    const slowEngine = new IdempotencyEngine(slow, { onEvent: () => undefined });
    const key = randomUUID();
    const headers: Record<string, string> = { 'idempotency-key': key };
    const request = {
      method: 'POST',
      route: '/payments',
      scope: undefined,
      header: (name: string) => headers[name],
      query: () => undefined,
      body: { amount: 10 },
    };
    const decision = await slowEngine.begin(request, policy);
    if (decision.action !== 'proceed') throw new Error(decision.action);
    let started = 0;
    const failure = await decision.execution.lease
      .transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
        // The database stops answering just as the COMMIT goes out: the record is written.
        const query = client.query.bind(client) as (config: unknown) => Promise<unknown>;
        (client as unknown as { query: (config: unknown) => Promise<unknown> }).query = (
          config,
        ) => {
          if ((config as { text?: string }).text === 'COMMIT') {
            server.pause();
            started = performance.now();
          }
          return query(config);
        };
        return { ok: true };
      })
      .catch((error: unknown) => error);
    const tookMs = performance.now() - started;
    server.resume();
    expect((failure as TollgateHttpError).status).toBe(503);
    expect((failure as TollgateHttpError).code).toBe('TOLLGATE_STORE_UNAVAILABLE');
    // The store timeout (1 s), with slack for a loaded machine; not the query timeout (6 s).
    expect(tookMs).toBeLessThan(2_500);
    await decision.execution.abandon();
    // Whether the COMMIT landed is unknown: the retry gets its result, or runs once.
    const retry = await slowEngine.begin(request, policy);
    if (retry.action === 'proceed') {
      await retry.execution.lease.transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
      });
    } else {
      expect(retry.action).toBe('replay');
    }
    expect(await ledger(key)).toBe(1);
    // A connection the pool opened while the database was paused may never settle its handshake;
    // what this test checks is above, so the pool's shutdown gets a bounded wait.
    await Promise.race([
      slow.close().then(() => own.end()),
      new Promise((resolve) => setTimeout(resolve, 3_000)),
    ]);
  });

  it('answers a transaction that a paused database cannot open with a 503 within the store timeout, and gives its connection back', async () => {
    const own = new pg.Pool({
      connectionString: server.url,
      max: 4,
      connectionTimeoutMillis: 2_000,
    });
    const slow = new PostgresStore({ pool: own, queryTimeout: '6s', cleanupInterval: false });
    const slowEngine = new IdempotencyEngine(slow, { onEvent: () => undefined });
    const key = randomUUID();
    const headers: Record<string, string> = { 'idempotency-key': key };
    const decision = await slowEngine.begin(
      {
        method: 'POST',
        route: '/payments',
        scope: undefined,
        header: (name: string) => headers[name],
        query: () => undefined,
        body: { amount: 10 },
      },
      policy,
    );
    if (decision.action !== 'proceed') throw new Error(decision.action);
    let ran = false;
    server.pause();
    const started = performance.now();
    const failure = await decision.execution.lease
      .transaction(async () => {
        ran = true;
      })
      .catch((error: unknown) => error);
    const tookMs = performance.now() - started;
    server.resume();
    expect((failure as TollgateHttpError).status).toBe(503);
    expect(ran).toBe(false);
    expect(tookMs).toBeLessThan(2_500);
    await decision.execution.abandon();
    // The BEGIN that landed late is rolled back and its connection returned: none is leaked.
    for (let waited = 0; own.idleCount < own.totalCount && waited < 5_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(own.idleCount).toBe(own.totalCount);
    await slow.close();
    await own.end();
  });

  it('answers a record that cannot reach a paused database with a 503 within the store timeout, and rolls back', async () => {
    const key = randomUUID();
    const execution = await proceed(key);
    let started = 0;
    const failure = await execution.lease
      .transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
        server.pause();
        started = performance.now();
        return { ok: true };
      })
      .catch((error: unknown) => error);
    const tookMs = performance.now() - started;
    server.resume();
    expect((failure as TollgateHttpError).status).toBe(503);
    expect((failure as TollgateHttpError).code).toBe('TOLLGATE_STORE_UNAVAILABLE');
    // The store timeout (1 s), with slack for a loaded machine; the rollback is not waited for.
    expect(tookMs).toBeLessThan(2_500);
    await execution.abandon();
    expect(await ledger(key)).toBe(0);
    const retry = await proceed(key);
    await retry.lease.transaction(async (client: pg.PoolClient) => {
      await client.query('INSERT INTO payments (key, amount) VALUES ($1, 10)', [key]);
    });
    expect(await ledger(key)).toBe(1);
  });
});
