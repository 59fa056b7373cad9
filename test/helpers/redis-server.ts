/**
 * Starts real `redis-server` processes for tests, on free loopback ports, and stops them again.
 *
 * Each server gets its own temporary working directory and no persistence, so a test starts from an
 * empty keyspace and leaves nothing behind. Every process is tracked and killed when the test
 * process exits, so a crashed or aborted run does not leave orphan servers holding ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { onTestProcessExit } from './exit-hook.js';

export interface RedisServer {
  host: string;
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** SIGTERM, wait for exit (SIGKILL after 3 s), then remove the temporary directory. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash, not a shutdown. The directory is kept for restart(). */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after stop() or kill()) and waits until it is ready. The keyspace starts empty. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its port and accepts TCP connections but answers nothing. */
  pause(): void;
  /** SIGCONT: undoes pause(). */
  resume(): void;
  /**
   * Calls per command since start, restart or resetStats(), from INFO commandstats: `{ set: 1,
   * evalsha: 2, 'client|setinfo': 2 }` (subcommands as Redis names them). The harness's own INFO and
   * CONFIG RESETSTAT calls are subtracted, so only the traffic of the code under test is counted.
   */
  commandStats(): Promise<Record<string, number>>;
  /** CONFIG RESETSTAT. */
  resetStats(): Promise<void>;
}

/**
 * Which server the harness runs: Redis, or Valkey (its fork, wire compatible). Valkey's binaries
 * are `valkey-server` and `valkey-cli`; both speak to ioredis and to each other as Redis 7.2 does.
 */
export type ServerFlavor = 'redis' | 'valkey';

/** Internal: how to build the command line for a given port and directory (sentinels need a config file). */
export interface LaunchSpec {
  /** Short name used in error messages and the temporary directory's name. */
  label: string;
  /** Which server binary to run. Default `redis`. */
  flavor?: ServerFlavor;
  buildArgs(port: number, dir: string): string[] | Promise<string[]>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const PORT_ATTEMPTS = 5;
const OUTPUT_TAIL_CHARS = 4_000;

export const REDIS_NOT_FOUND_MESSAGE =
  'redis-server was not found on PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server) or set REDIS_SERVER_BIN';

export const VALKEY_NOT_FOUND_MESSAGE =
  'valkey-server was not found on PATH: install it (Debian 12: apt-get install -t bookworm-backports valkey-server, from deb http://deb.debian.org/debian bookworm-backports main; .ci/run does) or set VALKEY_SERVER_BIN';

export function redisServerBin(): string {
  return process.env.REDIS_SERVER_BIN || 'redis-server';
}

export function valkeyServerBin(): string {
  return process.env.VALKEY_SERVER_BIN || 'valkey-server';
}

/** The server binary of a flavor (its `*_SERVER_BIN` variable, or its name on PATH). */
export function serverBin(flavor: ServerFlavor = 'redis'): string {
  return flavor === 'valkey' ? valkeyServerBin() : redisServerBin();
}

/** The message for a flavor's missing server binary. */
export function serverNotFoundMessage(flavor: ServerFlavor = 'redis'): string {
  return flavor === 'valkey' ? VALKEY_NOT_FOUND_MESSAGE : REDIS_NOT_FOUND_MESSAGE;
}

/** The absolute path of an executable, looked up on PATH unless the name has a slash. */
export function findExecutable(name: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

// Every live process and directory, so the hooks below can clean up after a run that never reached
// its afterAll (a crash, a timeout, a cancelled run). Exit and signal handlers must be synchronous,
// hence kill() and rmSync.
const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function killEverything(): void {
  for (const child of liveProcesses) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone: nothing to clean up.
    }
  }
  liveProcesses.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onTestProcessExit(killEverything);
}

// SIGKILL (Vitest's fallback 500 ms after SIGTERM, the OOM killer) runs no handler at all. On Linux,
// `setpriv --pdeathsig KILL` makes the kernel kill the server when the process that spawned it
// dies; setpriv then execs redis-server, so the pid stays the server's own.
let setprivPath: string | null | undefined;
function parentDeathWrapper(): string | undefined {
  if (setprivPath === undefined) {
    setprivPath = (process.platform === 'linux' && findExecutable('setpriv')) || null;
  }
  return setprivPath ?? undefined;
}

/** Asks the kernel for a free port by binding port 0; the caller must bind it soon (see retry in launch). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * A short-lived client for harness bookkeeping. RESP2 (no HELLO), no ready-check INFO and no CLIENT
 * SETINFO, so its only trace in commandStats is the command it was made for; no reconnects and no
 * queueing, so a dead or paused server fails fast.
 */
export async function withClient<T>(
  port: number,
  fn: (client: Redis) => Promise<T>,
  timeoutMs = 2_000,
): Promise<T> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    protocol: 2,
    enableReadyCheck: false,
    disableClientInfo: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // Errors surface through the rejected promises below; without a listener ioredis logs them.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** Parses the `key:value` lines of an INFO reply. */
export function parseInfo(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** Parses INFO commandstats (`cmdstat_set:calls=3,usec=...`) into `{ set: 3 }`. */
export function parseCommandStats(info: string): Record<string, number> {
  const stats: Record<string, number> = {};
  for (const [key, value] of parseInfo(info)) {
    if (!key.startsWith('cmdstat_')) continue;
    const calls = /(?:^|,)calls=(\d+)/.exec(value)?.[1];
    if (calls !== undefined) stats[key.slice('cmdstat_'.length).toLowerCase()] = Number(calls);
  }
  return stats;
}

/** Sums per-command counts, e.g. over the nodes of a cluster. */
export function sumStats(all: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const stats of all) {
    for (const [command, calls] of Object.entries(stats))
      total[command] = (total[command] ?? 0) + calls;
  }
  return total;
}

class ManagedRedis implements RedisServer {
  readonly host = HOST;
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  private paused = false;
  // Commands the harness itself sent since the last start or reset, subtracted in commandStats().
  private ownCalls: Record<string, number> = {};

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly spec: LaunchSpec,
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  /** Spawns the process and waits until it answers. Resolves false if it could not bind its port. */
  async launch(): Promise<boolean> {
    const bin = findExecutable(serverBin(this.spec.flavor));
    if (bin === undefined) throw new Error(serverNotFoundMessage(this.spec.flavor));
    mkdirSync(this.dir, { recursive: true });
    liveDirs.add(this.dir);
    const args = await this.spec.buildArgs(this.port, this.dir);
    this.output = '';
    this.paused = false;
    const wrapper = parentDeathWrapper();
    const [command, commandArgs] =
      wrapper === undefined ? [bin, args] : [wrapper, ['--pdeathsig', 'KILL', '--', bin, ...args]];
    const child = spawn(command, commandArgs, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    liveProcesses.add(child);
    const spawnError = new Promise<NodeJS.ErrnoException>((resolve) =>
      child.once('error', resolve),
    );
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        liveProcesses.delete(child);
        resolve();
      });
      // 'exit' never fires when the binary could not be spawned at all. A permanent listener, so
      // that a later failed signal delivery cannot surface as an unhandled 'error' event.
      child.on('error', () => {
        liveProcesses.delete(child);
        resolve();
      });
    });
    const collect = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // A server a test forgot to stop must not keep the test process alive; the hooks above kill it.
    child.unref();
    for (const stream of [child.stdout, child.stderr])
      (stream as { unref?: () => void } | null)?.unref?.();

    let done = false;
    const failure = Promise.race([
      spawnError.then((error) => ({ kind: 'spawn' as const, error })),
      this.exited.then(() => ({ kind: 'exit' as const })),
    ]);
    const ready = this.waitReady(child, () => done);
    const outcome = await Promise.race([ready.then(() => ({ kind: 'ready' as const })), failure]);
    done = true;

    if (outcome.kind === 'ready') {
      // The readiness probe's INFO is counted by the server.
      this.ownCalls = { info: 1 };
      return true;
    }
    if (outcome.kind === 'spawn') {
      throw new Error(`could not start ${bin}: ${outcome.error.message}`);
    }
    // Another process took the port between findFreePort() and the bind: the caller picks another.
    if (/address already in use/i.test(this.output)) return false;
    throw new Error(
      `${this.spec.label} on port ${this.port} exited during startup (exit code ${String(child.exitCode)}, signal ${String(child.signalCode)}). Output:\n${this.output}`,
    );
  }

  private async waitReady(child: ChildProcess, cancelled: () => boolean): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!cancelled()) {
      try {
        // Comparing process_id proves the answer comes from our process and not from some other
        // server that happens to hold this port (another worker's, if the bind raced).
        const info = await withClient(this.port, (client) => client.info('server'), 500);
        if (parseInfo(info).get('process_id') === String(child.pid)) return;
      } catch {
        // Not listening yet.
      }
      if (cancelled()) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `${this.spec.label} on port ${this.port} did not answer within ${READY_TIMEOUT_MS} ms. Output:\n${this.output}`,
        );
      }
      await sleep(50);
    }
  }

  private isRunning(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  private async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.isRunning()) return;
    child.kill(signal);
    // A stopped process does not act on SIGTERM until it is continued.
    if (this.paused) child.kill('SIGCONT');
    this.paused = false;
    if (signal === 'SIGTERM') {
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    } else {
      await this.exited;
    }
  }

  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.terminate('SIGTERM');
    if (!(await this.launch())) {
      throw new Error(
        `${this.spec.label} could not restart: port ${this.port} is now taken by another process. Output:\n${this.output}`,
      );
    }
  }

  pause(): void {
    if (!this.isRunning())
      throw new Error(`${this.spec.label} on port ${this.port} is not running`);
    this.child?.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.isRunning())
      throw new Error(`${this.spec.label} on port ${this.port} is not running`);
    this.child?.kill('SIGCONT');
    this.paused = false;
  }

  async commandStats(): Promise<Record<string, number>> {
    const stats = parseCommandStats(
      await withClient(this.port, (client) => client.info('commandstats')),
    );
    // The INFO that produced this reply is not in it (Redis counts a command after it ran), but
    // every earlier one is.
    for (const [command, calls] of Object.entries(this.ownCalls)) {
      const left = (stats[command] ?? 0) - calls;
      if (left > 0) stats[command] = left;
      else delete stats[command];
    }
    this.ownCalls.info = (this.ownCalls.info ?? 0) + 1;
    return stats;
  }

  async resetStats(): Promise<void> {
    await withClient(this.port, (client) => client.config('RESETSTAT'));
    // RESETSTAT clears the counters and is then counted itself.
    this.ownCalls = { 'config|resetstat': 1 };
  }
}

/** Internal: starts a server from a LaunchSpec on a free port, retrying when the port was taken. */
export async function launchRedis(spec: LaunchSpec): Promise<RedisServer> {
  installExitHook();
  for (let attempt = 1; ; attempt += 1) {
    const port = await findFreePort();
    const dir = await mkdtemp(join(tmpdir(), `tollgate-${spec.label.replace(/\W+/g, '-')}-`));
    const server = new ManagedRedis(port, dir, spec);
    try {
      if (await server.launch()) return server;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw error;
    }
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    if (attempt >= PORT_ATTEMPTS) {
      throw new Error(`${spec.label}: no free port after ${PORT_ATTEMPTS} attempts`);
    }
  }
}

/** The arguments every test server gets: loopback only, no persistence, in the foreground. */
export function baseArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--dir',
    dir,
  ];
}

/**
 * Starts a standalone redis-server (or with `flavor: 'valkey'`, a valkey-server) on a free loopback
 * port and waits until it answers.
 */
export async function startRedis(
  options: { args?: string[]; flavor?: ServerFlavor } = {},
): Promise<RedisServer> {
  const extra = options.args ?? [];
  const flavor = options.flavor ?? 'redis';
  return launchRedis({
    label: `${flavor}-server`,
    flavor,
    buildArgs: (port, dir) => [...baseArgs(port, dir), ...extra],
  });
}

/** Starts a standalone valkey-server; fails with VALKEY_NOT_FOUND_MESSAGE if there is none. */
export function startValkey(options: { args?: string[] } = {}): Promise<RedisServer> {
  return startRedis({ ...options, flavor: 'valkey' });
}

/**
 * The commands clients send to a server while `action` runs, as MONITOR shows them: each one a
 * round trip. Commands that scripts run inside Redis are left out (MONITOR marks them `lua`),
 * which INFO commandstats cannot do: it counts a top-level SET and a SET inside a script alike.
 * PINGs are left out too (heartbeats of a subscription, never part of a request).
 */
export async function roundTrips(url: string, action: () => Promise<unknown>): Promise<string[]> {
  // MONITOR on a plain socket rather than ioredis's monitor(): ioredis can take the first line of
  // output for the reply to a command of its own when both arrive together, and then fails with
  // "Command queue state error".
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.setEncoding('utf8');
  const seen: string[] = [];
  let pending = '';
  let started: () => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const monitoring = new Promise<void>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  // A monitor that fails or goes away would count too few commands, and a test expecting none
  // would pass: any loss of the connection fails the count instead.
  let lost: Error | undefined;
  const lose = (error: Error): void => {
    lost ??= error;
    failed(error);
  };
  socket.on('error', (error) => lose(new Error(`MONITOR connection failed: ${error.message}`)));
  socket.on('close', () => lose(new Error('MONITOR connection closed before the count ended')));
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (line === '+OK') started();
      else if (line.startsWith('-')) lose(new Error(`MONITOR refused: ${line.slice(1)}`));
      // +1700000000.123456 [0 127.0.0.1:50000] "get" "key" (a script's commands: [0 lua])
      const entry = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
      if (!entry) continue;
      const source = entry[1];
      const command = String(entry[2]).toLowerCase();
      // A PING is no request's round trip: a cache's subscription confirms itself with one a second.
      if (source !== 'lua' && command !== 'ping') seen.push(command);
    }
  });
  socket.write('MONITOR\r\n');
  await monitoring;
  try {
    await action();
    // MONITOR reports a command after running it, on its own connection: let the last ones arrive.
    await sleep(100);
    if (lost) throw lost;
    return seen;
  } finally {
    socket.removeAllListeners('close');
    socket.destroy();
  }
}
