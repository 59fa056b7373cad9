/**
 * A throwaway redis-server for the benchmark, on a free loopback port, with no persistence: the
 * small part of test/helpers/redis-server.ts the bench needs, in plain ESM so it runs without a
 * TypeScript step. Also counts the commands the apps send (INFO commandstats) and tells top-level
 * commands from those run inside Lua scripts (MONITOR).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

const HOST = '127.0.0.1';

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

/**
 * A bookkeeping client: RESP2, no ready-check INFO and no CLIENT SETINFO, so the only commands it
 * adds to commandstats are the ones it is asked to send.
 */
function quietClient(port) {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    protocol: 2,
    enableReadyCheck: false,
    disableClientInfo: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  return client;
}

/** Parses INFO commandstats (`cmdstat_set:calls=3,...`) into `{ set: 3 }`. */
export function parseCommandStats(info) {
  const stats = {};
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1].toLowerCase()] = Number(match[2]);
  }
  return stats;
}

/** The absolute path of an executable found on PATH, if any. */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Starts redis-server and resolves once it answers. `stop()` kills it and removes its directory. */
export async function startRedis() {
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-redis-'));
  // On Linux, setpriv makes the kernel kill the server if the bench dies without cleaning up
  // (SIGKILL, a crash); it then execs redis-server, so the pid stays the server's.
  const setpriv = process.platform === 'linux' ? onPath('setpriv') : undefined;
  const command = setpriv ? [setpriv, '--pdeathsig', 'KILL', '--', bin] : [bin];
  const child = spawn(
    command[0],
    [
      ...command.slice(1),
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
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const spawnFailed = new Promise((_, reject) =>
    child.once('error', (error) =>
      reject(new Error(`could not start ${bin}: ${error.message} (set REDIS_SERVER_BIN)`)),
    ),
  );
  // Never leave a server behind, whatever ends the bench.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const admin = quietClient(port);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited during start-up:\n${output}`);
    try {
      await Promise.race([admin.connect(), spawnFailed]);
      await admin.ping();
      break;
    } catch (error) {
      if (Date.now() > deadline || /could not start/.test(String(error?.message))) {
        child.kill('SIGKILL');
        throw error instanceof Error ? error : new Error(String(error));
      }
      admin.disconnect();
      await sleep(50);
    }
  }
  const info = await admin.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  // Commands this client sent since the last RESETSTAT, subtracted from what the apps sent.
  let ownCalls = {};

  return {
    url: `redis://${HOST}:${port}`,
    port,
    version,
    /** Empties the keyspace, so each target starts from the same state. */
    async flush() {
      await admin.flushall();
      ownCalls = {};
    },
    /** Number of keys: the probe checks that a protected route wrote something. */
    async dbsize() {
      return admin.dbsize();
    },
    /** CPU seconds redis-server has used (user + system, all threads), from INFO cpu. */
    async cpuSeconds() {
      const cpu = await admin.info('cpu');
      ownCalls.info = (ownCalls.info ?? 0) + 1;
      const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
      return field('used_cpu_user') + field('used_cpu_sys');
    },
    /** CONFIG RESETSTAT: zeroes INFO commandstats. */
    async resetStats() {
      await admin.config('RESETSTAT');
      ownCalls = { 'config|resetstat': 1 };
    },
    /** Calls per command since resetStats(), the harness's own calls left out. */
    async commandStats() {
      const stats = parseCommandStats(await admin.info('commandstats'));
      for (const [command, calls] of Object.entries(ownCalls)) {
        const left = (stats[command] ?? 0) - calls;
        if (left > 0) stats[command] = left;
        else delete stats[command];
      }
      // The INFO that produced this reply is counted by the next one.
      ownCalls.info = (ownCalls.info ?? 0) + 1;
      return stats;
    },
    /**
     * Records every command the server runs while `fn` runs (MONITOR), split into commands clients
     * sent (each one a round trip) and commands Lua scripts ran (`[0 lua]` in MONITOR's output).
     */
    async census(fn) {
      const monitorClient = quietClient(port);
      await monitorClient.connect();
      const monitor = await monitorClient.monitor();
      const topLevel = {};
      const inLua = {};
      monitor.on('monitor', (_time, args, source) => {
        const name = String(args[0]).toLowerCase();
        const bucket = source === 'lua' ? inLua : topLevel;
        bucket[name] = (bucket[name] ?? 0) + 1;
      });
      try {
        const result = await fn();
        // Work that ends after the response (storing a result) must still be seen.
        await sleep(300);
        return { result, topLevel, inLua };
      } finally {
        monitor.disconnect();
        monitorClient.disconnect();
      }
    },
    async stop() {
      admin.disconnect();
      process.off('exit', killOnExit);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
