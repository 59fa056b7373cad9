/**
 * Starts a minimal Sentinel setup for tests: one master, one replica and one sentinel (quorum 1),
 * all on loopback ports.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  launchRedis,
  parseInfo,
  startRedis,
  withClient,
  type RedisServer,
  type ServerFlavor,
} from './redis-server.js';

export interface SentinelHandle {
  name: 'mymaster';
  /** For `new Redis({ sentinels: handle.sentinels, name: handle.name })`. */
  sentinels: { host: string; port: number }[];
  /** The initial master; kill() it to make the sentinel fail over to the replica (within ~1-4 s). */
  master: RedisServer;
  replica: RedisServer;
  /** The sentinel process itself. */
  sentinel: RedisServer;
  stop(): Promise<void>;
}

const NAME = 'mymaster';
const SETUP_TIMEOUT_MS = 10_000;

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`sentinel setup: ${what} within ${SETUP_TIMEOUT_MS} ms`);
    await sleep(100);
  }
}

/** Starts the group on redis-server (or with `flavor: 'valkey'`, on valkey-server). */
export async function startRedisSentinel(
  options: { flavor?: ServerFlavor } = {},
): Promise<SentinelHandle> {
  const flavor = options.flavor ?? 'redis';
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    // Sentinel first, so it does not start a failover while the data nodes go down.
    for (const server of [...servers].reverse()) await server.stop();
  };

  try {
    // Redis 7 waits 5 s before a diskless full sync in case more replicas arrive; there is only one.
    const master = await startRedis({ flavor, args: ['--repl-diskless-sync-delay', '0'] });
    servers.push(master);
    const replica = await startRedis({
      flavor,
      args: ['--replicaof', master.host, String(master.port)],
    });
    servers.push(replica);

    // Attached before the sentinel starts, so its first INFO to the master already lists the
    // replica and a failover test can run at once.
    await waitFor('the replica did not finish its initial sync', async () => {
      const info = await withClient(replica.port, (client) => client.info('replication'));
      return parseInfo(info).get('master_link_status') === 'up';
    });

    const sentinel = await launchRedis({
      label: `${flavor}-sentinel`,
      flavor,
      buildArgs: (port, dir) => {
        // Sentinel rewrites its config file to persist its state, so the file must be its own and
        // writable; restart() regenerates it.
        const config = join(dir, 'sentinel.conf');
        writeFileSync(
          config,
          [
            `port ${port}`,
            `bind ${master.host}`,
            `dir ${dir}`,
            `sentinel monitor ${NAME} ${master.host} ${master.port} 1`,
            `sentinel down-after-milliseconds ${NAME} 1000`,
            `sentinel failover-timeout ${NAME} 3000`,
            'sentinel resolve-hostnames no',
            '',
          ].join('\n'),
        );
        return [config, '--sentinel'];
      },
    });
    servers.push(sentinel);

    await waitFor('the sentinel did not report the master', async () => {
      const address = await withClient(sentinel.port, (client) =>
        client.call('SENTINEL', 'get-master-addr-by-name', NAME),
      );
      return Array.isArray(address) && address[1] === String(master.port);
    });
    await waitFor('the sentinel did not discover the replica', async () => {
      const replicas = await withClient(sentinel.port, (client) =>
        client.call('SENTINEL', 'replicas', NAME),
      );
      return Array.isArray(replicas) && replicas.length > 0;
    });

    // Drop the setup's own commands; the sentinel's periodic PING/INFO to the data nodes continue.
    await Promise.all([master.resetStats(), replica.resetStats()]);

    return {
      name: NAME,
      sentinels: [{ host: sentinel.host, port: sentinel.port }],
      master,
      replica,
      sentinel,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
