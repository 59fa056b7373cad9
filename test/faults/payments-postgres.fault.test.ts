/**
 * The sample's `POST /payments` on PostgreSQL (`DATABASE_URL`), every variant as its own processes
 * on one database per variant: the ledger row and the idempotency record commit in one
 * transaction, so through concurrent duplicates, processes killed before and after the commit, a
 * restarted and a paused database, the ledger holds exactly one row per key. The ledger is
 * append-only and counts every execution that committed; uncommitted rows are invisible to it.
 *
 * The variants run one after another: a restart or a pause of the shared server would disturb
 * the others.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { request, type HttpResult } from '../helpers/http.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';
import { startSampleProcess, type SampleProcess } from '../helpers/sample-process.js';

const VARIANTS = [
  ['Nest', resolve('sample-app/dist/sample-app/src/main.js')],
  ['Nest on Fastify', resolve('sample-app/dist/sample-app/src/fastify/main.js')],
  ['Express', resolve('sample-app/dist/sample-app/src/express/main.js')],
] as const;

/** B's and C's lease: short, so a retry after a killed holder does not wait long. */
const LEASE_MS = 1_000;
/**
 * A's lease: long enough that a restart of the database, which its renewals cannot reach, does not
 * cost it the lease; the request then fails on its dead transaction, not on a lost lease.
 */
const A_LEASE_MS = 5_000;
/** A route's default `storeTimeout`: how soon a silent database must be answered for. */
const STORE_TIMEOUT_MS = 1_000;
const PROBLEM_JSON = /^application\/problem\+json/;

interface PaymentBody {
  id: string;
  amount: number;
  fencingToken: number;
}

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

describe.each(VARIANTS)('%s sample on PostgreSQL', (name, entry) => {
  /**
   * A and B: ordinary processes (A with a longer lease); C kills itself right after its first
   * payment commits.
   */
  let a: SampleProcess;
  let b: SampleProcess;
  let c: SampleProcess;
  /**
   * The test's own connections to the variant's database, to look at the ledger and sessions: a
   * pool, which reconnects after the server restarts.
   */
  let db: pg.Pool;

  beforeAll(async () => {
    const url = await server.createDatabase(`payments_${name.toLowerCase().replace(/\W+/g, '_')}`);
    const env = { DATABASE_URL: url, TOLLGATE_LEASE: `${LEASE_MS}ms` };
    [a, b, c] = await Promise.all([
      startSampleProcess({ ...env, TOLLGATE_LEASE: `${A_LEASE_MS}ms` }, entry),
      startSampleProcess(env, entry),
      startSampleProcess({ ...env, TOLLGATE_TEST_DIE_AFTER_COMMIT: '1' }, entry),
    ]);
    db = new pg.Pool({ connectionString: url, max: 2 });
    db.on('error', () => undefined);
  });

  afterEach(() => {
    server.resume();
  });

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await Promise.all([a, b, c].map((sample) => sample?.kill('SIGTERM')));
  });

  const pay = (sample: SampleProcess, key: string, delayMs = 0): Promise<HttpResult> =>
    request(sample.baseUrl, 'POST', '/payments', {
      body: { amount: 42, delayMs },
      headers: { 'idempotency-key': key },
    });

  /** Committed ledger rows for the key, straight from the table. */
  const rowsFor = async (key: string): Promise<number> => {
    const { rows } = await db.query<{ count: string }>(
      'SELECT count(*) FROM tollgate_sample_payments WHERE key = $1',
      [key],
    );
    return Number(rows[0]?.count);
  };

  /** Retries with the same key, as a client would, until it gets a 201. */
  const payUntilCreated = async (sample: SampleProcess, key: string, delayMs = 0) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const response = await pay(sample, key, delayMs);
      if (response.status === 201) return response;
      expect([409, 503]).toContain(response.status);
      await sleep(100);
    }
    throw new Error('never got a 201');
  };

  /**
   * Resolves once a session of the sample sits in an open transaction after its ledger INSERT:
   * the row is written, not committed, and the handler waits in `delayMs`.
   */
  const insertOpen = async (): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { rows } = await db.query<{ count: string }>(
        `SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'idle in transaction'
            AND query LIKE 'INSERT INTO tollgate_sample_payments%'`,
      );
      if (Number(rows[0]?.count) > 0) return;
      await sleep(20);
    }
    throw new Error('no open transaction with a ledger INSERT within 10 s');
  };

  it('says in its first line that it runs on PostgreSQL, without the password', () => {
    const first = a.output().split('\n')[0];
    expect(first).toMatch(/^tollgate sample: store postgres \(postgres:\/\/\*\*\*@127\.0\.0\.1:/);
    expect(first).not.toContain(`:${server.password}@`);
  });

  it('100 concurrent duplicates across two processes: one ledger row, the rest 409 or replayed', async () => {
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => pay(i % 2 ? a : b, key, 300)),
    );
    const created = responses.filter((response) => response.status === 201);
    const fresh = created.filter((response) => !response.headers.get('idempotent-replayed'));
    // At most one ran. On a machine too loaded to take the key within the route's storeTimeout,
    // a request is answered 503 without running (the store's timeout, by design); then maybe
    // none of the burst ran, and a client's retry below does.
    expect(fresh.length).toBeLessThanOrEqual(1);
    for (const response of responses) {
      expect([201, 409, 503]).toContain(response.status);
      if (response.status === 201) expect(response.text).toBe(fresh[0]?.text);
      else expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
      if (response.status === 503) {
        expect(response.json()).toMatchObject({
          type: expect.stringMatching(/store-unavailable\.md$/),
        });
      }
    }
    const settled = await payUntilCreated(a, key, 300);
    const payment = (fresh[0] ?? settled).json<PaymentBody>();
    expect(settled.json()).toEqual(payment);
    expect(await rowsFor(key)).toBe(1);
    const listed = (await request(a.baseUrl, 'GET', '/payments')).json<{
      payments: Array<PaymentBody & { key: string }>;
    }>();
    expect(listed.payments.filter((entry) => entry.key === key)).toEqual([
      expect.objectContaining(payment),
    ]);
  });

  it('the database paused during the take: a 503 problem within the store timeout, never a hang', async () => {
    const key = randomUUID();
    server.pause();
    const started = performance.now();
    // B, with the short lease: a take that timed out here may still land once the database
    // resumes; the store gives it back, and should that fail, the key is held only that long.
    const first = await pay(b, key);
    const elapsed = performance.now() - started;
    server.resume();
    expect(first.status).toBe(503);
    expect(first.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(first.json()).toMatchObject({ type: expect.stringMatching(/store-unavailable\.md$/) });
    // The store's timeout, plus slack for a loaded machine; a hang would take until the test's.
    expect(elapsed).toBeLessThan(STORE_TIMEOUT_MS + 2_500);
    const retry = await payUntilCreated(b, key);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await rowsFor(key)).toBe(1);
  });

  it('the database restarted during delayMs: a 5xx problem, nothing half-recorded, the retry pays once', async () => {
    const key = randomUUID();
    // The retries send the same body, as a client's would.
    const first = pay(a, key, 1_000);
    await insertOpen();
    await server.restart();
    const failed = await first;
    // The commit could not happen on the terminated session: the store is reported unavailable.
    expect(failed.status).toBe(503);
    expect(failed.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(failed.json()).toMatchObject({ type: expect.stringMatching(/store-unavailable\.md$/) });
    expect(failed.headers.get('retry-after')).toBe('1');
    // The open transaction died with its session: no row, and no result to replay.
    expect(await rowsFor(key)).toBe(0);
    const retry = await payUntilCreated(b, key, 1_000);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const again = await pay(a, key, 1_000);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(retry.text);
    expect(await rowsFor(key)).toBe(1);
  });

  it('(0) a process killed right after its commit, before it answers: the retry is replayed, no second row', async () => {
    const key = randomUUID();
    // C kills itself between the commit and its response: the client sees the connection drop.
    await expect(pay(c, key)).rejects.toThrow();
    expect(await rowsFor(key)).toBe(1);
    const { rows } = await db.query<{ n: string; fencing_token: string }>(
      'SELECT n, fencing_token FROM tollgate_sample_payments WHERE key = $1',
      [key],
    );
    // At once, with no wait for a lease: the commit recorded the result.
    const retry = await pay(a, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('content-type')).toMatch(/^application\/json/);
    expect(retry.json()).toEqual({
      id: `pay_${rows[0]?.n}`,
      amount: 42,
      fencingToken: Number(rows[0]?.fencing_token),
    });
    const again = await pay(b, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json()).toEqual(retry.json());
    expect(await rowsFor(key)).toBe(1);
  });

  it('a process frozen in its open transaction past its lease: the other takes the key and pays, the frozen one rolls back', async () => {
    const key = randomUUID();
    const frozen = pay(b, key, 1_000);
    await insertOpen();
    b.pause();
    try {
      // B's lease runs out while it is frozen, its row written but not committed.
      await sleep(LEASE_MS + 400);
      const taken = await payUntilCreated(a, key, 1_000);
      expect(taken.headers.get('idempotent-replayed')).toBeNull();
      expect(await rowsFor(key)).toBe(1);
    } finally {
      b.resume();
    }
    // B wakes up: its transaction must not commit a second row.
    const fromB = await frozen;
    expect(fromB.status).toBe(409);
    expect(fromB.json()).toMatchObject({ type: expect.stringMatching(/lease-lost\.md$/) });
    expect(await rowsFor(key)).toBe(1);
  });

  it('(a) a process killed during delayMs, its row written but not committed: no row from it, the retry after the lease pays once', async () => {
    const key = randomUUID();
    // Long enough to be killed in; the retries send the same body, as a client's would.
    const killed = pay(b, key, 1_500).catch(() => undefined);
    await insertOpen();
    await b.kill('SIGKILL');
    await killed;
    expect(await rowsFor(key)).toBe(0);
    const started = performance.now();
    const retry = await payUntilCreated(a, key, 1_500);
    // Not before the lease ran out: the killed request might still have been running.
    expect(performance.now() - started).toBeGreaterThan(LEASE_MS / 2);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await rowsFor(key)).toBe(1);
    const later = await pay(a, key, 1_500);
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(later.text).toBe(retry.text);
    expect(await rowsFor(key)).toBe(1);
  });
});
