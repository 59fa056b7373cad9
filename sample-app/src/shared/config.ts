import {
  MemoryStore,
  RedisStore,
  type Duration,
  type TollgateEvent,
  type TollgateStore,
} from '../../../src/index.js';
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
}

/** The sample's settings from its environment: `PORT`, `REDIS_URL`, `TOLLGATE_LEASE`. */
export function configFromEnv(env: NodeJS.ProcessEnv): SampleAppConfig & { port: number } {
  return {
    redisUrl: env.REDIS_URL || undefined,
    port: Number(env.PORT || 3000),
    lease: (env.TOLLGATE_LEASE || undefined) as Duration | undefined,
  };
}

/** The first log line: which store the sample uses, without the password of a Redis URL. */
export function storeBanner(redisUrl: string | undefined): string {
  return redisUrl
    ? `tollgate sample: store redis (${redisUrl.replace(/\/\/[^@]*@/, '//***@')})`
    : 'tollgate sample: store in-memory (set REDIS_URL to use Redis)';
}

/**
 * Opens the store, and the payments ledger beside it (in the same Redis, or both in this
 * process), and waits until they are connected: requests right after "listening" must not fail.
 */
export async function openStores(
  redisUrl: string | undefined,
): Promise<{ store: TollgateStore; ledger: PaymentLedger }> {
  if (!redisUrl) return { store: new MemoryStore(), ledger: new MemoryPaymentLedger() };
  const store = new RedisStore({ url: redisUrl });
  await store.ready();
  // The store's own connection: no second one to open, watch and close.
  return { store, ledger: new RedisPaymentLedger(store.client) };
}
