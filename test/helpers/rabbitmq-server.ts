/**
 * Starts a throwaway RabbitMQ broker for a test file, and removes it again.
 *
 * Each broker is its own Erlang node (`tg-<port>@localhost`) with its own AMQP and distribution
 * ports on loopback, its own Erlang cookie, and its data, logs, configuration and plugin list in a
 * temporary directory; it never touches a broker you run (Debian's `rabbitmq-server` service, its
 * cookie or its data in /var/lib/rabbitmq). It is killed and its directory removed on stop(), and
 * when the test process exits, as the Redis helper does.
 *
 * Start-up is the slow part of RabbitMQ: at boot the node scans every application on its code path
 * for feature flags and boot steps, and parses the configuration schema of every plugin. The broker
 * is therefore run from a RabbitMQ home that holds only the applications the core broker needs
 * (links into the installed release, found from the `.app` files), with the configuration as an
 * Erlang term file and no plugins enabled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { connect } from 'amqplib';

import { findExecutable, findFreePort } from './redis-server.js';
import { onTestProcessExit } from './exit-hook.js';

export interface RabbitMqServer {
  port: number;
  /** `amqp://guest:guest@127.0.0.1:<port>` (guest may connect from loopback). */
  url: string;
  /** The node's name, `tg-<port>@localhost`. */
  node: string;
  /** Its temporary directory: data, logs, configuration and cookie. */
  dir: string;
  /** What the broker printed (its log goes to standard output), up to the last 1 MB. */
  output(): string;
  /** Kills the broker and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
const PORT_ATTEMPTS = 5;
const OUTPUT_TAIL_CHARS = 1_000_000;

export const RABBITMQ_NOT_FOUND_MESSAGE =
  'rabbitmq-server was not found: install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server; .ci/run does) or set RABBITMQ_SERVER_BIN to its scripts directory (the one holding rabbitmq-server and rabbitmq-env)';

/**
 * The directory of RabbitMQ's own scripts (`rabbitmq-server`, `rabbitmq-env`), whose parent is the
 * release with its `plugins/`. Debian's `/usr/sbin/rabbitmq-server` is a wrapper that switches to
 * the `rabbitmq` user and drops the environment, so the script is run from its real location.
 */
export function rabbitMqScriptsDir(): string | undefined {
  const fromEnv = process.env.RABBITMQ_SERVER_BIN;
  const candidates = fromEnv
    ? [fromEnv.endsWith('rabbitmq-server') ? join(fromEnv, '..') : fromEnv]
    : ['/usr/lib/rabbitmq/bin', '/usr/local/lib/rabbitmq/bin', '/opt/rabbitmq/sbin'];
  return candidates.find((dir) => existsSync(join(dir, 'rabbitmq-env')));
}

/** The release's `plugins/` (every Erlang application of the broker) next to the scripts. */
function pluginsDir(scriptsDir: string): string {
  const home = join(scriptsDir, '..');
  const direct = join(home, 'plugins');
  if (existsSync(direct)) return direct;
  // Debian: /usr/lib/rabbitmq/bin/../lib/rabbitmq_server-<version>/plugins
  const lib = join(home, 'lib');
  const release = readdirSync(lib).find((name) => name.startsWith('rabbitmq_server-'));
  if (!release) throw new Error(`no plugins directory found under ${home}`);
  return join(lib, release, 'plugins');
}

/** The applications an app lists in its `.app` file. */
function dependencies(appDir: string): string[] {
  const ebin = join(appDir, 'ebin');
  const appFile = existsSync(ebin) && readdirSync(ebin).find((name) => name.endsWith('.app'));
  if (!appFile) return [];
  const text = readFileSync(join(ebin, appFile), 'latin1');
  const listed = /\{\s*(?:applications|included_applications)\s*,\s*\[([^\]]*)\]/g;
  return [...text.matchAll(listed)].flatMap((match) =>
    (match[1] ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  );
}

/**
 * Links to the applications `rabbit` needs (its dependencies, transitively), and nothing else:
 * what the broker scans at boot. `enough` is loaded by RabbitMQ's systemd boot-state module
 * without being listed, so it is added by name.
 */
function linkCoreApplications(plugins: string, into: string): void {
  const byName = new Map<string, string>();
  for (const entry of readdirSync(plugins)) {
    const name = /^(.+?)-\d[\w.]*(?:\.ez)?$/.exec(entry)?.[1];
    if (name) byName.set(name, entry);
  }
  const wanted = ['rabbit', 'rabbitmq_prelaunch', 'enough'];
  const seen = new Set<string>();
  while (wanted.length > 0) {
    const name = wanted.pop() as string;
    const entry = byName.get(name);
    if (seen.has(name) || entry === undefined) continue;
    seen.add(name);
    symlinkSync(join(plugins, entry), join(into, entry));
    wanted.push(...dependencies(join(plugins, entry)));
  }
}

const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** SIGKILL to the broker's process group. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function killEverything(): void {
  for (const child of liveProcesses) killGroup(child);
  liveProcesses.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onTestProcessExit(killEverything);
}

/** Resolves once an AMQP client completes its handshake (the broker has finished booting). */
async function waitForAmqp(
  url: string,
  exited: () => boolean,
  output: () => string,
): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited()) throw new Error(`rabbitmq-server exited during start-up:\n${output()}`);
    try {
      const connection = await connect(url, { timeout: 2_000 });
      await connection.close();
      return;
    } catch {
      // Not listening yet, or still booting.
    }
    if (performance.now() > deadline) {
      throw new Error(
        `rabbitmq-server did not accept AMQP in ${READY_TIMEOUT_MS} ms:\n${output()}`,
      );
    }
    await sleep(100);
  }
}

async function launch(scriptsDir: string): Promise<RabbitMqServer | 'port-taken'> {
  const [port, distPort] = [await findFreePort(), await findFreePort()];
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-rabbitmq-'));
  liveDirs.add(dir);
  const node = `tg-${port}@localhost`;
  // A RabbitMQ home of our own: the real scripts, and a plugins/ with the core applications only.
  const home = join(dir, 'home');
  mkdirSync(join(home, 'sbin'), { recursive: true });
  mkdirSync(join(home, 'plugins'));
  for (const script of readdirSync(scriptsDir)) {
    symlinkSync(join(scriptsDir, script), join(home, 'sbin', script));
  }
  linkCoreApplications(pluginsDir(scriptsDir), join(home, 'plugins'));
  // Erlang reads its cookie from $HOME; the node's own, readable by its owner only.
  const userHome = join(dir, 'user');
  mkdirSync(userHome);
  await writeFile(join(userHome, '.erlang.cookie'), randomBytes(20).toString('hex'), {
    mode: 0o400,
  });
  await writeFile(join(dir, 'rabbitmq-env.conf'), '');
  await writeFile(join(dir, 'enabled_plugins'), '[].\n');
  // The Erlang term format needs no configuration schema to be parsed at boot.
  await writeFile(
    join(dir, 'rabbitmq.config'),
    `[{rabbit, [{tcp_listeners, [{"${HOST}", ${port}}]}]}].\n`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: userHome,
    RABBITMQ_SCRIPTS_DIR: join(home, 'sbin'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.config'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-',
    // The distribution port on loopback too.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    // Without this the script runs the VM as a child of a shell that traps signals; with it the
    // script execs the VM, so the pid (and the parent-death signal below) is the broker's own.
    // `-noinput` is what the script would have passed otherwise.
    RABBITMQ_ALLOW_INPUT: 'true',
    RABBITMQ_SERVER_START_ARGS: '-noinput',
  };
  const script = join(scriptsDir, 'rabbitmq-server');
  // The kernel kills the broker when this process dies without running any handler (see the Redis
  // helper); the scripts exec erl, which execs the VM, so the pid stays the broker's own.
  const setpriv = process.platform === 'linux' ? findExecutable('setpriv') : undefined;
  const [command, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', script]] : [script, []];
  // Its own process group, so stop() also ends what the VM started (erl_child_setup).
  const child = spawn(command, args, {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  liveProcesses.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('latin1')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.on('error', () => resolve());
  });
  let done = false;
  void exited.then(() => {
    done = true;
    liveProcesses.delete(child);
  });
  child.unref();
  for (const stream of [child.stdout, child.stderr])
    (stream as { unref?: () => void } | null)?.unref?.();

  const url = `amqp://guest:guest@${HOST}:${port}`;
  const stop = async (): Promise<void> => {
    // A throwaway broker: nothing to flush, so no graceful shutdown to wait for.
    if (!done) {
      killGroup(child);
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
  try {
    await waitForAmqp(
      url,
      () => done,
      () => output,
    );
  } catch (error) {
    await stop();
    // Another process bound one of the ports between findFreePort() and the broker: try others.
    if (/eaddrinuse|address already in use/i.test(output)) return 'port-taken';
    throw error;
  }
  return { port, url, node, dir, output: () => output, stop };
}

/** Starts a broker on free loopback ports and resolves once it accepts AMQP connections. */
export async function startRabbitMq(): Promise<RabbitMqServer> {
  const scriptsDir = rabbitMqScriptsDir();
  if (scriptsDir === undefined) throw new Error(RABBITMQ_NOT_FOUND_MESSAGE);
  installExitHook();
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt += 1) {
    const server = await launch(scriptsDir);
    if (server !== 'port-taken') return server;
  }
  throw new Error(`rabbitmq-server: no free ports after ${PORT_ATTEMPTS} attempts`);
}
