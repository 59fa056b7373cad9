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
  /** `redis://…`; without it the sample uses the in-memory store. */
  redisUrl?: string | undefined;
  /** The in-progress lease; shortened to show crash recovery quickly. */
  lease?: Duration | undefined;
  logger?: false;
  /** Hears Tollgate's events (`openTelemetryEvents()` from `tollgate/otel`, say). Default: Tollgate's warnings. */
  onEvent?: ((event: TollgateEvent) => void) | undefined;
  /** Tollgate's events as metrics, served at `/metrics` (`OTEL_METRICS=prometheus`); their `onEvent` is the app's. */
  metrics?: SampleMetrics | undefined;
}

/**
 * The sample's settings from its environment: `PORT`, `REDIS_URL`, `TOLLGATE_LEASE`,
 * `OTEL_METRICS` (`prometheus`: metrics at `/metrics`).
 */
export function configFromEnv(env: NodeJS.ProcessEnv): SampleAppConfig & { port: number } {
  const metrics = metricsFromEnv(env);
  return {
    redisUrl: env.REDIS_URL || undefined,
    port: Number(env.PORT || 3000),
    lease: (env.TOLLGATE_LEASE || undefined) as Duration | undefined,
    ...(metrics ? { metrics, onEvent: metrics.onEvent } : {}),
  };
}

/** The first log line: which store the sample uses, without the password of a Redis URL. */
export function storeBanner(redisUrl: string | undefined): string {
  return redisUrl
    ? `tollgate sample: store redis (${redisUrl.replace(/\/\/[^@]*@/, '//***@')})`
    : 'tollgate sample: store in-memory (set REDIS_URL to use Redis)';
}

/** How long the sample waits for Redis before it gives up starting. */
export const STORE_WAIT: Duration = '10s';

/**
 * Opens the store, and the payments ledger beside it (in the same Redis, or both in this
 * process), and waits until they are connected: requests right after "listening" must not fail.
 * A Redis that stays unreachable fails the start (`StoreUnavailableError`, see `exitIfStoreUnreachable`).
 */
export async function openStores(
  redisUrl: string | undefined,
): Promise<{ store: TollgateStore; ledger: PaymentLedger }> {
  if (!redisUrl) return { store: new MemoryStore(), ledger: new MemoryPaymentLedger() };
  const store = new RedisStore({ url: redisUrl });
  try {
    await waitForStore(store, { timeout: STORE_WAIT, required: true });
  } catch (error) {
    await store.close();
    throw error;
  }
  // The store's own connection: no second one to open, watch and close.
  return { store, ledger: new RedisPaymentLedger(store.client) };
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
