import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  POSTGRES_NOT_FOUND_MESSAGE,
  startPostgres,
  type PostgresServer,
} from '../helpers/postgres-server.js';

/** True if nothing listens on the port any more (we can bind it ourselves). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}

/** A client that gives up quickly, so a paused or stopped server shows up as an error. */
async function connect(url: string, timeoutMs = 2_000): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('startPostgres', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await startPostgres({ settings: { max_connections: '50' } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('serves an ordinary URL with a password user that owns its database', async () => {
    expect(server.url).toBe(`postgres://tollgate:tollgate@127.0.0.1:${server.port}/tollgate`);
    const client = await connect(server.url);
    try {
      const { rows } = await client.query<{ user: string; db: string }>(
        'SELECT current_user AS user, current_database() AS db',
      );
      expect(rows).toEqual([{ user: 'tollgate', db: 'tollgate' }]);
      await client.query('CREATE TABLE harness (id int PRIMARY KEY)');
    } finally {
      await client.end();
    }
    await expect(connect(server.url.replace(':tollgate@', ':wrong@'))).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it('applies extra settings', async () => {
    expect(await server.sql('SHOW max_connections')).toBe('50');
    expect(await server.sql('SHOW fsync')).toBe('off');
  });

  it('creates more databases, and runs SQL as the superuser', async () => {
    const url = await server.createDatabase();
    const client = await connect(url);
    try {
      await client.query('CREATE TABLE t (v text)');
      await client.query("INSERT INTO t VALUES ('a')");
    } finally {
      await client.end();
    }
    const name = url.slice(url.lastIndexOf('/') + 1);
    expect(await server.sql('SELECT v FROM t', name)).toBe('a');
  });

  it('pause() stops the postmaster and every backend; resume() brings them back', async () => {
    const client = await connect(server.url, 500);
    try {
      const pids = server.pids();
      expect(pids.length).toBeGreaterThan(1);
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(pids).toContain(rows[0]?.pid);

      server.pause();
      try {
        // An open connection gets no answer, and neither does a new one.
        await expect(client.query('SELECT 1')).rejects.toThrow(/timeout/i);
        await expect(connect(server.url, 500)).rejects.toThrow(/timeout/i);
      } finally {
        server.resume();
      }
      const fresh = await connect(server.url);
      try {
        expect((await fresh.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await fresh.end();
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  it('restart() terminates open connections, keeps committed rows, and serves again on the port', async () => {
    const client = await connect(server.url);
    await client.query('INSERT INTO harness VALUES (1)');
    await client.query('BEGIN');
    await client.query('INSERT INTO harness VALUES (2)');
    const postmaster = server.pids()[0];
    await server.restart();
    await expect(client.query('COMMIT')).rejects.toThrow();
    await client.end().catch(() => undefined);
    expect(server.pids()[0]).not.toBe(postmaster);
    const fresh = await connect(server.url);
    try {
      expect((await fresh.query('SELECT id FROM harness ORDER BY id')).rows).toEqual([{ id: 1 }]);
    } finally {
      await fresh.end();
    }
  });

  it('says how to install PostgreSQL when the binaries are missing', async () => {
    const previous = process.env.PG_BIN;
    process.env.PG_BIN = '/nonexistent/bin';
    try {
      await expect(startPostgres()).rejects.toThrow(POSTGRES_NOT_FOUND_MESSAGE);
    } finally {
      if (previous === undefined) delete process.env.PG_BIN;
      else process.env.PG_BIN = previous;
    }
  });

  // Last: it stops the server the others share.
  it('stop() ends every process, frees the port and removes the directory', async () => {
    const pids = server.pids();
    await server.stop();
    expect(await portIsFree(server.port)).toBe(true);
    expect(existsSync(server.socketDir)).toBe(false);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
