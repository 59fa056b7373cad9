import {
  MemoryStore,
  RedisStore,
  StoreUnavailableError,
  waitForStore,
  type Duration,
  type TollgateEvent,
  type TollgateStore,
} from 'tollgate';
import { metricsFromEnv, type SampleMetrics } from './metrics.js';
import { MemoryPaymentLedger, RedisPaymentLedger, type PaymentLedger } from './payments.js';

/** What every variant of the sample is started with. */
export interface SampleAppConfig {
  /** `redis://…`; without it (and without `databaseUrl`) the sample uses the in-memory store. */
  redisUrl?: string | undefined;
  /**
   * `postgres://…`: `PostgresStore` for idempotency and the payments ledger in the same database,
   * written in one transaction. Rate limits then stay in memory (`PostgresStore` keeps none).
   */
  databaseUrl?: string | undefined;
  /** Test hook: the process kills itself right after a payment commits, before it answers. */
  dieAfterCommit?: boolean | undefined;
  /** The in-progress lease; shortened to show crash recovery quickly. */
  lease?: Duration | undefined;
  logger?: false;
  /** Hears Tollgate's events (`openTelemetryEvents()` from `tollgate/otel`, say). Default: Tollgate's warnings. */
  onEvent?: ((event: TollgateEvent) => void) | undefined;
  /** Tollgate's events as metrics, served at `/metrics` (`OTEL_METRICS=prometheus`); their `onEvent` is the app's. */
  metrics?: SampleMetrics | undefined;
}

/**
 * The sample's settings from its environment: `PORT`, `DATABASE_URL`, `REDIS_URL`,
 * `TOLLGATE_LEASE`, `OTEL_METRICS` (`prometheus`: metrics at `/metrics`), and the test hook
 * `TOLLGATE_TEST_DIE_AFTER_COMMIT=1`.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): SampleAppConfig & { port: number } {
  const metrics = metricsFromEnv(env);
  return {
    redisUrl: env.REDIS_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    dieAfterCommit: env.TOLLGATE_TEST_DIE_AFTER_COMMIT === '1',
    port: Number(env.PORT || 3000),
    lease: (env.TOLLGATE_LEASE || undefined) as Duration | undefined,
    ...(metrics ? { metrics, onEvent: metrics.onEvent } : {}),
  };
}

/** A URL without its password. */
const hidePassword = (url: string): string => url.replace(/\/\/[^@]*@/, '//***@');

/** The first log line: which store the sample uses, without the password of its URL. */
export function storeBanner(config: Pick<SampleAppConfig, 'redisUrl' | 'databaseUrl'>): string {
  if (config.databaseUrl) {
    return `tollgate sample: store postgres (${hidePassword(config.databaseUrl)}), rate limits in memory`;
  }
  return config.redisUrl
    ? `tollgate sample: store redis (${hidePassword(config.redisUrl)})`
    : 'tollgate sample: store in-memory (set REDIS_URL to use Redis, DATABASE_URL for PostgreSQL)';
}

/** How long the sample waits for Redis or PostgreSQL before it gives up starting. */
export const STORE_WAIT: Duration = '10s';
const STORE_WAIT_MS = 10_000;

/** The stores a variant of the sample runs on, and the ledger of `POST /payments`. */
export interface SampleStores {
  /** Idempotency (and exclusive leases). */
  store: TollgateStore;
  /** Rate limits: the same store, except on PostgreSQL, which keeps none (then a `MemoryStore`). */
  limitStore: TollgateStore;
  ledger: PaymentLedger;
  /** Closes the ledger's connections when they are not the store's (PostgreSQL: the app's pool). */
  close(): Promise<void>;
}

/**
 * Opens the store, and the payments ledger beside it (in the same Redis or PostgreSQL, or both in
 * this process), and waits until they are connected: requests right after "listening" must not
 * fail. A store that stays unreachable fails the start (`StoreUnavailableError`, see
 * `exitIfStoreUnreachable`).
 */
export async function openStores(
  config: Pick<SampleAppConfig, 'redisUrl' | 'databaseUrl' | 'dieAfterCommit'>,
): Promise<SampleStores> {
  const wait = (store: TollgateStore) =>
    waitForStore(store, { timeout: STORE_WAIT, required: true }).then(() => undefined);
  if (config.databaseUrl) {
    // Loaded only here, so the other modes never load `pg`.
    const { openPostgres } = await import('./postgres.js');
    const { store, ledger } = await openPostgres(config.databaseUrl, {
      dieAfterCommit: config.dieAfterCommit ?? false,
      waitMs: STORE_WAIT_MS,
      wait,
    });
    return { store, limitStore: new MemoryStore(), ledger, close: () => ledger.close() };
  }
  const none = async (): Promise<void> => undefined;
  if (!config.redisUrl) {
    const store = new MemoryStore();
    return { store, limitStore: store, ledger: new MemoryPaymentLedger(), close: none };
  }
  const store = new RedisStore({ url: config.redisUrl });
  try {
    await wait(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  // The store's own connection: no second one to open, watch and close.
  return { store, limitStore: store, ledger: new RedisPaymentLedger(store.client), close: none };
}

/**
 * For the sample's entry points: a store that stayed unreachable ends the process with its one
 * line (which names the store and the reason) and a non-zero exit code, not a stack trace.
 */
export function exitIfStoreUnreachable(error: unknown): never {
  if (error instanceof StoreUnavailableError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
