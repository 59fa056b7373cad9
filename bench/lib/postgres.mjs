/**
 * A throwaway PostgreSQL cluster for the benchmark: the small part of
 * test/helpers/postgres-server.ts the bench needs, in plain ESM so it runs without a TypeScript
 * step. `initdb` in a temporary directory, `pg_ctl` on a free loopback port, `fsync=off` (the
 * cluster is thrown away; commits still write their WAL, they only skip the wait for the disk).
 * As root, the server runs as the `postgres` OS user, since initdb and postgres refuse root.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import pg from 'pg';

const HOST = '127.0.0.1';
const execFileAsync = promisify(execFile);

/** Asks the kernel for a free port by binding port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `PG_BIN`, else Debian's newest /usr/lib/postgresql/<version>/bin, else undefined. */
function binDir() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const debian = '/usr/lib/postgresql';
  if (!existsSync(debian)) return undefined;
  const versions = readdirSync(debian)
    .filter((name) => existsSync(join(debian, name, 'bin', 'initdb')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] === undefined ? undefined : join(debian, versions[0], 'bin');
}

const isRoot = () => process.getuid?.() === 0;

/** A server command, as the `postgres` OS user when we are root. */
function serverCommand(bin, args) {
  return isRoot()
    ? execFileAsync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8' })
    : execFileAsync(bin, args, { encoding: 'utf8' });
}

/** Clock ticks per second, for /proc/<pid>/stat's CPU times. */
let ticks;
function clockTicks() {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds of the postmaster and all its backends, live and ended: the postmaster waits for
 * every child it forks, so the kernel adds an ended backend's time to the postmaster's cutime and
 * cstime.
 */
function clusterCpuSeconds(postmaster) {
  // utime, stime, cutime, cstime are fields 14-17 of stat; 12-15 counted from the state field.
  const own = statFields(postmaster);
  let total = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(entry);
      if (Number(fields[1]) === postmaster) total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended while we looked: its time is in the postmaster's cutime now.
    }
  }
  return total / clockTicks();
}

/**
 * Starts a cluster with a password user and database `tollgate`; resolves once it accepts
 * connections. `stop()` stops it at once and removes its directory.
 */
export async function startPostgres() {
  const bin = binDir();
  if (bin === undefined || !existsSync(join(bin, 'initdb'))) {
    throw new Error(
      'PostgreSQL was not found in /usr/lib/postgresql/*/bin: install it (Debian: apt-get install postgresql) or set PG_BIN',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-pg-'));
  if (isRoot()) {
    const [, , uid, gid] =
      readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((line) => line.startsWith('postgres:'))
        ?.split(':') ?? [];
    if (uid === undefined) throw new Error('running as root, but there is no `postgres` OS user');
    chownSync(dir, Number(uid), Number(gid));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await serverCommand(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
    '--no-instructions',
  ]);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `listen_addresses = '${HOST}'`,
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'full_page_writes = off',
      'wal_level = minimal',
      'max_wal_senders = 0',
      'max_connections = 200',
      // Statements per request, as MONITOR gives commands per request on Redis.
      "shared_preload_libraries = 'pg_stat_statements'",
      '',
    ].join('\n'),
  );
  await serverCommand(join(bin, 'pg_ctl'), ['start', '-w', '-D', data, '-l', join(dir, 'log')]);
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const halt = () => {
    try {
      // pg_ctl's `-m immediate`: nothing of this cluster is kept.
      process.kill(postmaster, 'SIGQUIT');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', () => {
    halt();
    rmSync(dir, { recursive: true, force: true });
  });

  // The superuser, over the unix socket: sets up, reads the statistics and empties the tables. Its
  // own statements are left out of the counts (they are filtered by user).
  const admin = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query("CREATE ROLE tollgate LOGIN PASSWORD 'tollgate'");
  await admin.query('CREATE DATABASE tollgate OWNER tollgate');
  const { rows } = await admin.query('SHOW server_version');
  await admin.end();
  const db = new pg.Client({ host: dir, port, user: 'postgres', database: 'tollgate' });
  db.on('error', () => undefined);
  await db.connect();
  await db.query('CREATE EXTENSION pg_stat_statements');

  const url = `postgres://tollgate:tollgate@${HOST}:${port}/tollgate`;
  /** Tollgate's tables in the bench's database (PostgresStore's default names start so). */
  const tables = async () =>
    (
      await db.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tollgate%'",
      )
    ).rows.map((row) => row.tablename);

  return {
    url,
    port,
    version: rows[0]?.server_version ?? 'unknown',
    /** Empties Tollgate's tables, so each target starts from the same state. */
    async flush() {
      for (const table of await tables()) await db.query(`TRUNCATE ${table}`);
    },
    /** Rows in Tollgate's tables: the probe checks that a protected route wrote something. */
    async rows() {
      let count = 0;
      for (const table of await tables()) {
        count += Number((await db.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
      }
      return count;
    },
    /** Zeroes the statement statistics. */
    async resetStats() {
      await db.query('SELECT pg_stat_statements_reset()');
    },
    /**
     * Calls per statement (normalized SQL text) the apps sent since resetStats(): each one a round
     * trip, BEGIN and COMMIT included.
     */
    async statementStats() {
      const { rows: stats } = await db.query(
        `SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
          WHERE r.rolname = 'tollgate'`,
      );
      return Object.fromEntries(stats.map((row) => [row.query, Number(row.calls)]));
    },
    /** CPU seconds the cluster has used (postmaster and backends, user + system). */
    async cpuSeconds() {
      return clusterCpuSeconds(postmaster);
    },
    async stop() {
      await db.end().catch(() => undefined);
      halt();
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(postmaster, 0);
        } catch {
          break;
        }
        await sleep(30);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
