/**
 * The sample with `DATABASE_URL`, every variant in this process on its own database of one real
 * PostgreSQL: `PostgresStore` for idempotency, the `/payments` ledger in a table beside it, rate
 * limits in memory. The crash and fault cases, over real processes, are in
 * test/faults/payments-postgres.fault.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSampleApp } from '../../sample-app/src/create-app.js';
import { createExpressSampleApp } from '../../sample-app/src/express/create-app.js';
import { configFromEnv, storeBanner } from '../../sample-app/src/shared/config.js';
import type { LedgerEntry } from '../../sample-app/src/shared/payments.js';
import { request, type HttpResult } from '../helpers/http.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';

interface RunningSample {
  baseUrl: string;
  close(): Promise<void>;
}

async function startNest(
  databaseUrl: string,
  platform: 'express' | 'fastify',
): Promise<RunningSample> {
  const { app } = await createSampleApp({ databaseUrl, logger: false, platform });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function startExpress(databaseUrl: string): Promise<RunningSample> {
  const { app, store, close } = await createExpressSampleApp({ databaseUrl, logger: false });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
      await store.close?.();
      await close();
    },
  };
}

const VARIANTS = [
  { name: 'Nest', start: (url: string) => startNest(url, 'express') },
  { name: 'Nest on Fastify', start: (url: string) => startNest(url, 'fastify') },
  { name: 'Express', start: startExpress },
] as const;

const pay = (baseUrl: string, key: string | undefined, body: unknown): Promise<HttpResult> =>
  request(baseUrl, 'POST', '/payments', {
    body,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

describe('the sample configuration', () => {
  it('reads DATABASE_URL and the test hook from the environment', () => {
    expect(
      configFromEnv({ DATABASE_URL: 'postgres://u:p@h/db', TOLLGATE_TEST_DIE_AFTER_COMMIT: '1' }),
    ).toMatchObject({ databaseUrl: 'postgres://u:p@h/db', dieAfterCommit: true });
    expect(configFromEnv({})).toMatchObject({ databaseUrl: undefined, dieAfterCommit: false });
  });

  it('names the store in its first line, without the password', () => {
    expect(storeBanner({ databaseUrl: 'postgres://app:s3cret@db:5432/shop' })).toBe(
      'tollgate sample: store postgres (postgres://***@db:5432/shop), rate limits in memory',
    );
    expect(storeBanner({})).toMatch(/in-memory/);
  });
});

describe.each(VARIANTS)('$name sample on PostgreSQL', (variant) => {
  let samples: RunningSample[];
  let baseUrl: string;
  let db: pg.Pool;

  beforeAll(async () => {
    const url = await server.createDatabase();
    // Two at once on a fresh database: their schema creation must not collide.
    samples = await Promise.all([variant.start(url), variant.start(url)]);
    baseUrl = (samples[0] as RunningSample).baseUrl;
    db = new pg.Pool({ connectionString: url, max: 1 });
  });

  afterAll(async () => {
    await Promise.all((samples ?? []).map((sample) => sample.close()));
    await db?.end();
  });

  it('answers 201 { id, amount, fencingToken }, one committed row, and replays the duplicate', async () => {
    const key = randomUUID();
    const first = await pay(baseUrl, key, { amount: 25, delayMs: 0 });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const payment = first.json<{ id: string; amount: number; fencingToken: number }>();
    expect(payment).toEqual({
      id: expect.stringMatching(/^pay_\d+$/),
      amount: 25,
      fencingToken: expect.any(Number),
    });
    // The other process, on the same database.
    const again = await pay((samples[1] as RunningSample).baseUrl, key, {
      amount: 25,
      delayMs: 0,
    });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);

    const { rows } = await db.query<{ n: string; amount: number }>(
      'SELECT n, amount FROM tollgate_sample_payments WHERE key = $1',
      [key],
    );
    expect(rows).toEqual([{ n: payment.id.slice('pay_'.length), amount: 25 }]);
    const ledger = (await request(baseUrl, 'GET', '/payments')).json<{
      count: number;
      payments: LedgerEntry[];
    }>();
    expect(ledger.count).toBe(ledger.payments.length);
    expect(ledger.payments.filter((entry) => entry.key === key)).toEqual([{ ...payment, key }]);
  });

  it('refuses a bad amount or delayMs with a 400 problem, and writes nothing', async () => {
    for (const body of [{ amount: 'ten' }, { amount: 5, delayMs: 30_001 }, [5]]) {
      const key = randomUUID();
      const response = await pay(baseUrl, key, body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const { rows } = await db.query('SELECT 1 FROM tollgate_sample_payments WHERE key = $1', [
        key,
      ]);
      expect(rows).toEqual([]);
    }
  });

  it('reports itself healthy from PostgreSQL', async () => {
    const health = await request(baseUrl, 'GET', '/health');
    expect(health.status).toBe(200);
  });

  it('keeps its rate-limited routes working, their counters in memory', async () => {
    const quote = await request(baseUrl, 'GET', '/quotes');
    expect(quote.status).toBe(200);
    expect(quote.headers.get('ratelimit-policy') ?? quote.headers.get('ratelimit')).toBeTruthy();
  });

  it('closes its connections when the app closes (last: it closes the samples)', async () => {
    await Promise.all(samples.map((sample) => sample.close()));
    samples = [];
    const sessions = async (): Promise<number> => {
      const { rows } = await db.query<{ count: string }>(
        `SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      return Number(rows[0]?.count);
    };
    // A backend ends a moment after its client hangs up.
    for (let i = 0; i < 50 && (await sessions()) > 0; i++) await sleep(20);
    expect(await sessions()).toBe(0);
  });
});
