/**
 * Starts a throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, `pg_ctl`
 * on a free loopback port, its unix socket in that directory, and everything removed on stop().
 *
 * The cluster trades durability for speed (`fsync=off`, minimal WAL): a test cluster never outlives
 * its test run, and a restart through `pg_ctl` still keeps every committed row, because a commit
 * still writes its WAL before it returns; only the wait for the disk is skipped.
 *
 * initdb and postgres refuse to run as root; as root the server commands run as the `postgres` OS
 * user (`runuser`), which owns the temporary directory. pg_ctl daemonizes the postmaster, so it is
 * not a child a dying test process takes with it: a small watchdog process stops the cluster and
 * removes its directory when the test process is gone, however it ended.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { findExecutable, findFreePort } from './redis-server.js';
import { onTestProcessExit } from './exit-hook.js';

const execFileAsync = promisify(execFile);

export interface PostgresServer {
  host: string;
  port: number;
  /** `postgres://tollgate:tollgate@127.0.0.1:<port>/tollgate`: a password user that owns its database. */
  url: string;
  user: string;
  password: string;
  database: string;
  /** The directory of the server's unix socket (the superuser connects there without a password). */
  socketDir: string;
  /** The URL of another database on this server, as the same user. */
  urlFor(database: string): string;
  /** Creates a database owned by the password user (a fresh name unless given) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /**
   * Runs SQL as the superuser over the unix socket with psql and returns its unaligned output
   * (`-At`: one row a line, columns split by `|`). For setup and checks, not for the code under test.
   */
  sql(statement: string, database?: string): Promise<string>;
  /** Stops the server at once (an immediate shutdown) and removes its directory. */
  stop(): Promise<void>;
  /**
   * `pg_ctl restart -m fast`: open connections are terminated, transactions in flight roll back,
   * committed data stays; resolves once the server accepts connections again on the same port.
   */
  restart(): Promise<void>;
  /**
   * SIGSTOP of the postmaster and all its backends: TCP connections are still accepted by the
   * kernel, but nothing answers, neither on open connections nor on new ones.
   */
  pause(): void;
  /** SIGCONT of the same processes: undoes pause(). */
  resume(): void;
  /** The postmaster's pid first, then its children's (backends and auxiliary processes). */
  pids(): number[];
}

export interface StartPostgresOptions {
  /** Extra `postgresql.conf` settings, e.g. `{ max_connections: '300' }`. */
  settings?: Record<string, string>;
}

const HOST = '127.0.0.1';
const USER = 'tollgate';
const PASSWORD = 'tollgate';
const DATABASE = 'tollgate';
const SUPERUSER = 'postgres';
const PORT_ATTEMPTS = 5;
const START_TIMEOUT_S = 30;
const HALT_GRACE_MS = 3_000;

export const POSTGRES_NOT_FOUND_MESSAGE =
  'PostgreSQL was not found (initdb in /usr/lib/postgresql/*/bin or on PATH): install it (Debian/Ubuntu: sudo apt-get install postgresql) or set PG_BIN to the directory that holds initdb, pg_ctl and postgres';

/**
 * The directory of initdb, pg_ctl, postgres and psql: `PG_BIN`, else Debian's newest
 * `/usr/lib/postgresql/<version>/bin`, else the directory of `initdb` on PATH. Debian puts only
 * wrappers (or nothing) on PATH, and the server binaries of one version must be used together.
 */
export function postgresBinDir(): string | undefined {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((name) => existsSync(join(debian, name, 'bin', 'initdb')))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    if (versions[0] !== undefined) return join(debian, versions[0], 'bin');
  }
  const initdb = findExecutable('initdb');
  if (initdb === undefined) return undefined;
  // A symbolic link on PATH (e.g. /usr/local/bin/initdb) points into the real directory.
  try {
    const real = execFileSync('readlink', ['-f', initdb], { encoding: 'utf8' }).trim();
    return real.slice(0, real.lastIndexOf('/'));
  } catch {
    return initdb.slice(0, initdb.lastIndexOf('/'));
  }
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The uid and gid of the `postgres` OS user, which runs the server when the tests run as root. */
function postgresOsUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${SUPERUSER}:`));
  const fields = line?.split(':');
  if (fields === undefined || fields.length < 4) {
    throw new Error(
      "the tests run as root, and initdb refuses root, but there is no `postgres` OS user to run it as (Debian's postgresql package creates one; or run the tests as another user)",
    );
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** A server command, as the `postgres` OS user when we are root. */
async function runServerCommand(
  bin: string,
  args: string[],
  timeoutMs = START_TIMEOUT_S * 1_000 + 5_000,
): Promise<string> {
  const [command, commandArgs] = isRoot()
    ? ['runuser', ['-u', SUPERUSER, '--', bin, ...args]]
    : [bin, args];
  try {
    const { stdout } = await execFileAsync(command, commandArgs, {
      timeout: timeoutMs,
      encoding: 'utf8',
    });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `${bin} ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}${stderr}`,
      { cause: error },
    );
  }
}

/** The pids of the direct children of a process, from /proc (PostgreSQL backends are never deeper). */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces: state, ppid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** The postmaster's pid, from the first line of `postmaster.pid`, or undefined when it is not running. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Source of the watchdog: a detached Node process that waits for the test process to end, then
 * stops the cluster as `pg_ctl stop -m immediate` would (SIGQUIT, after SIGCONT in case it was
 * paused; SIGKILL if it lingers) and removes the directory. It ends by itself once stop() has
 * removed the directory.
 */
const WATCHDOG = `
const fs = require('node:fs');
const [parent, dataDir, dir] = process.argv.slice(1).map((v, i) => (i === 0 ? Number(v) : v));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const send = (pid, sig) => { try { process.kill(pid, sig); } catch {} };
const children = (ppid) => fs.readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).flatMap((e) => {
  try { const s = fs.readFileSync('/proc/' + e + '/stat', 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === ppid ? [Number(e)] : []; } catch { return []; }
});
const timer = setInterval(() => {
  if (!fs.existsSync(dir)) process.exit(0);
  if (alive(parent)) return;
  clearInterval(timer);
  let pm;
  try { pm = Number(fs.readFileSync(dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]); } catch {}
  if (pm > 0 && alive(pm)) {
    const all = [pm, ...children(pm)];
    all.forEach((p) => send(p, 'SIGCONT'));
    send(pm, 'SIGQUIT');
    const deadline = Date.now() + ${HALT_GRACE_MS};
    const wait = setInterval(() => {
      if (alive(pm) && Date.now() < deadline) return;
      clearInterval(wait);
      all.forEach((p) => send(p, 'SIGKILL'));
      fs.rmSync(dir, { recursive: true, force: true });
    }, 50);
  } else {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 500);
`;

// Clusters of this process, stopped synchronously on exit and on the signals Vitest and Ctrl-C send.
// The watchdog covers SIGKILL, which runs no handler.
const liveClusters = new Set<ManagedPostgres>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onTestProcessExit(() => {
    for (const cluster of liveClusters) cluster.haltSync();
    liveClusters.clear();
  });
}

/** Settings for a fast, loopback-only, throwaway cluster. */
function baseSettings(port: number, socketDir: string): Record<string, string> {
  return {
    listen_addresses: `'${HOST}'`,
    port: String(port),
    unix_socket_directories: `'${socketDir}'`,
    fsync: 'off',
    full_page_writes: 'off',
    wal_level: 'minimal',
    max_wal_senders: '0',
    shared_buffers: '32MB',
    max_connections: '200',
    // The tests pause and restart the server on purpose; its log is in the directory for failures.
    logging_collector: 'off',
    log_min_messages: 'warning',
    // Several test files may run clusters at once on a small machine.
    autovacuum_naptime: '10s',
    max_worker_processes: '4',
    max_parallel_workers: '0',
    max_parallel_workers_per_gather: '0',
  };
}

function formatSettings(settings: Record<string, string>): string {
  return `\n${Object.entries(settings)
    .map(([name, value]) => `${name} = ${value}`)
    .join('\n')}\n`;
}

class ManagedPostgres implements PostgresServer {
  readonly host = HOST;
  readonly user = USER;
  readonly password = PASSWORD;
  readonly database = DATABASE;
  readonly url: string;
  readonly socketDir: string;
  private readonly dataDir: string;
  private readonly logFile: string;
  private paused: number[] = [];
  private databases = 0;
  private watchdogPid: number | undefined;

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {
    this.socketDir = dir;
    this.dataDir = join(dir, 'data');
    this.logFile = join(dir, 'postgres.log');
    this.url = this.urlFor(DATABASE);
  }

  urlFor(database: string): string {
    return `postgres://${USER}:${PASSWORD}@${HOST}:${this.port}/${database}`;
  }

  /** `pg_ctl start`; resolves false if the port was taken between findFreePort() and the bind. */
  async launch(): Promise<boolean> {
    try {
      await runServerCommand(join(this.bin, 'pg_ctl'), [
        'start',
        '-w',
        '-t',
        String(START_TIMEOUT_S),
        '-D',
        this.dataDir,
        '-l',
        this.logFile,
      ]);
      return true;
    } catch (error) {
      const log = await readFile(this.logFile, 'utf8').catch(() => '');
      if (/could not bind|address already in use/i.test(log)) return false;
      throw new Error(`${(error as Error).message}\nServer log:\n${log.slice(-4_000)}`, {
        cause: error,
      });
    }
  }

  startWatchdog(): void {
    const watchdog = spawn(
      process.execPath,
      ['-e', WATCHDOG, String(process.pid), this.dataDir, this.dir],
      { detached: true, stdio: 'ignore' },
    );
    watchdog.unref();
    this.watchdogPid = watchdog.pid;
  }

  async sql(statement: string, database = 'postgres'): Promise<string> {
    try {
      const { stdout } = await execFileAsync(
        join(this.bin, 'psql'),
        [
          '-X',
          '-q',
          '-At',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          this.socketDir,
          '-p',
          String(this.port),
          '-U',
          SUPERUSER,
          '-d',
          database,
          '-c',
          statement,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      return stdout.trimEnd();
    } catch (error) {
      const { stderr = '' } = error as { stderr?: string };
      throw new Error(`psql failed on ${JSON.stringify(statement)}: ${stderr || String(error)}`, {
        cause: error,
      });
    }
  }

  async createDatabase(name?: string): Promise<string> {
    const database = name ?? `${DATABASE}_${++this.databases}`;
    if (!/^[a-z_][a-z0-9_]*$/.test(database)) {
      throw new Error(`createDatabase: ${database} is not a plain lower-case identifier`);
    }
    await this.sql(`CREATE DATABASE ${database} OWNER ${USER}`);
    return this.urlFor(database);
  }

  pids(): number[] {
    const postmaster = postmasterPid(this.dataDir);
    return postmaster === undefined ? [] : [postmaster, ...childrenOf(postmaster)];
  }

  pause(): void {
    const pids = this.pids();
    if (pids.length === 0) throw new Error(`PostgreSQL on port ${this.port} is not running`);
    // The postmaster first, so it forks no new backend while its children are being stopped.
    for (const pid of pids) signal(pid, 'SIGSTOP');
    // A backend forked just before the postmaster stopped is not in the first list.
    for (const pid of childrenOf(pids[0] as number)) {
      if (!pids.includes(pid)) {
        signal(pid, 'SIGSTOP');
        pids.push(pid);
      }
    }
    this.paused = pids;
  }

  resume(): void {
    for (const pid of [...this.paused, ...this.pids()]) signal(pid, 'SIGCONT');
    this.paused = [];
  }

  async restart(): Promise<void> {
    if (this.paused.length > 0) this.resume();
    await runServerCommand(join(this.bin, 'pg_ctl'), [
      'restart',
      '-m',
      'fast',
      '-w',
      '-t',
      String(START_TIMEOUT_S),
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
    ]);
  }

  /** An immediate shutdown, waiting up to a grace period, then SIGKILL. Synchronous for exit hooks. */
  haltSync(): void {
    const pids = this.pids();
    const postmaster = pids[0];
    if (postmaster !== undefined) {
      for (const pid of pids) signal(pid, 'SIGCONT');
      signal(postmaster, 'SIGQUIT');
      const deadline = Date.now() + HALT_GRACE_MS;
      const pause = new Int32Array(new SharedArrayBuffer(4));
      while (alive(postmaster) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
      for (const pid of pids) signal(pid, 'SIGKILL');
    }
    this.removeDir();
  }

  private removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
    if (this.watchdogPid !== undefined) signal(this.watchdogPid, 'SIGKILL');
    this.watchdogPid = undefined;
  }

  async stop(): Promise<void> {
    liveClusters.delete(this);
    const pids = this.pids();
    const postmaster = pids[0];
    if (postmaster !== undefined) {
      for (const pid of pids) signal(pid, 'SIGCONT');
      // SIGQUIT is pg_ctl's `-m immediate`: nothing of this cluster is kept, so skip the checkpoint.
      signal(postmaster, 'SIGQUIT');
      const deadline = Date.now() + HALT_GRACE_MS;
      while (alive(postmaster) && Date.now() < deadline) await sleep(20);
      for (const pid of pids) signal(pid, 'SIGKILL');
    }
    this.paused = [];
    this.removeDir();
  }
}

/** A temporary directory the `postgres` OS user can reach when we are root. */
async function makeDir(): Promise<string> {
  let base = tmpdir();
  // As root, TMPDIR may be a directory only root can enter.
  if (isRoot() && (statSync(base).mode & 0o001) === 0) base = '/tmp';
  const dir = await mkdtemp(join(base, 'tollgate-pg-'));
  if (isRoot()) {
    const { uid, gid } = postgresOsUser();
    chownSync(dir, uid, gid);
  }
  return dir;
}

/**
 * Starts a throwaway PostgreSQL cluster on a free loopback port and waits until it accepts
 * connections. It has a password user `tollgate` (`CREATEDB`) that owns the database `tollgate`:
 * `url` is an ordinary URL for any client. Call stop() when done.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(POSTGRES_NOT_FOUND_MESSAGE);
  installExitHook();
  const dir = await makeDir();
  const dataDir = join(dir, 'data');
  let cluster: ManagedPostgres | undefined;
  try {
    // --no-sync: the cluster is thrown away, so initdb need not wait for the disk. Local (socket)
    // connections are trusted, for the harness's psql; TCP ones need the password, as in production.
    await runServerCommand(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    for (let attempt = 1; ; attempt++) {
      const port = await findFreePort();
      // postgresql.conf's last setting of a name wins, so a retry appends a new port.
      await appendFile(
        join(dataDir, 'postgresql.conf'),
        formatSettings({ ...baseSettings(port, dir), ...options.settings }),
      );
      cluster = new ManagedPostgres(port, dir, bin);
      if (await cluster.launch()) break;
      if (attempt >= PORT_ATTEMPTS) {
        throw new Error(`PostgreSQL: no free port after ${PORT_ATTEMPTS} attempts`);
      }
    }
    liveClusters.add(cluster);
    cluster.startWatchdog();
    // Two calls: CREATE DATABASE cannot share a (multi-statement, so implicit) transaction.
    await cluster.sql(`CREATE ROLE ${USER} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
    await cluster.createDatabase(DATABASE);
    return cluster;
  } catch (error) {
    if (cluster !== undefined) {
      liveClusters.delete(cluster);
      cluster.haltSync();
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
    throw error;
  }
}
