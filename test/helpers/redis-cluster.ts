/**
 * Starts a real Redis Cluster of N masters (no replicas) on loopback ports for tests.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  baseArgs,
  launchRedis,
  parseInfo,
  sumStats,
  withClient,
  type RedisServer,
  type ServerFlavor,
} from './redis-server.js';

export interface RedisClusterHandle {
  /** Seed nodes for `new Cluster(handle.nodes)`. */
  nodes: { host: string; port: number }[];
  /** The node processes, for tests that pause or kill one of them. */
  servers: RedisServer[];
  stop(): Promise<void>;
  /** Calls per command summed over all nodes (see RedisServer.commandStats). */
  commandStats(): Promise<Record<string, number>>;
  resetStats(): Promise<void>;
}

const TOTAL_SLOTS = 16_384;
const CLUSTER_READY_TIMEOUT_MS = 20_000;

function cliBin(flavor: ServerFlavor): string {
  return flavor === 'valkey'
    ? process.env.VALKEY_CLI_BIN || 'valkey-cli'
    : process.env.REDIS_CLI_BIN || 'redis-cli';
}

function runCli(flavor: ServerFlavor, args: string[]): Promise<string> {
  const cli = cliBin(flavor);
  return new Promise((resolve, reject) => {
    execFile(cli, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new Error(
            flavor === 'valkey'
              ? 'valkey-cli was not found on PATH: install it (Debian 12: apt-get install -t bookworm-backports valkey-tools) or set VALKEY_CLI_BIN'
              : 'redis-cli was not found on PATH: install it (Debian/Ubuntu: sudo apt-get install redis-tools) or set REDIS_CLI_BIN',
          ),
        );
        return;
      }
      reject(new Error(`${cli} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
    });
  });
}

/** True once this node sees every slot served, every other node, and the cluster as ok. */
async function nodeReady(port: number, masters: number): Promise<boolean> {
  const info = parseInfo(
    await withClient(port, async (client) => String(await client.call('CLUSTER', 'INFO'))),
  );
  return (
    info.get('cluster_state') === 'ok' &&
    info.get('cluster_slots_assigned') === String(TOTAL_SLOTS) &&
    info.get('cluster_known_nodes') === String(masters)
  );
}

/** Starts a Cluster of redis-server nodes (or with `flavor: 'valkey'`, valkey-server nodes). */
export async function startRedisCluster(
  options: { masters?: number; flavor?: ServerFlavor } = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const flavor = options.flavor ?? 'redis';
  // `redis-cli --cluster create` refuses fewer than three masters.
  if (!Number.isInteger(masters) || masters < 3) {
    throw new RangeError(`startRedisCluster needs at least 3 masters, got ${masters}`);
  }

  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };

  try {
    const started = await Promise.allSettled(
      Array.from({ length: masters }, () =>
        launchRedis({
          label: `${flavor}-cluster-node`,
          flavor,
          buildArgs: (port, dir) => [
            ...baseArgs(port, dir),
            '--cluster-enabled',
            'yes',
            // Relative to --dir, so every node keeps its own file.
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;

    await runCli(flavor, [
      '--cluster',
      'create',
      ...servers.map((server) => `${server.host}:${server.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);

    // redis-cli returns once the configuration is consistent, but a master only reports
    // cluster_state:ok about 2 s after it started; a client connecting earlier gets CLUSTERDOWN.
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    for (;;) {
      const states = await Promise.all(
        servers.map((server) => nodeReady(server.port, masters).catch(() => false)),
      );
      if (states.every(Boolean)) break;
      if (Date.now() > deadline) {
        throw new Error(
          `cluster did not reach cluster_state:ok within ${CLUSTER_READY_TIMEOUT_MS} ms (ready nodes: ${states.map(String).join(', ')})`,
        );
      }
      await sleep(100);
    }

    // Setting up the cluster sent many commands; tests count only their own.
    await Promise.all(servers.map((server) => server.resetStats()));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    servers,
    stop,
    commandStats: async () =>
      sumStats(await Promise.all(servers.map((server) => server.commandStats()))),
    resetStats: async () => {
      await Promise.all(servers.map((server) => server.resetStats()));
    },
  };
}
