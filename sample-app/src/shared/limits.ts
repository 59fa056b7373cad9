import type { ThrottleLimits } from 'tollgate';

/**
 * The rate limits of the sample's routes, per client: the demo user when
 * `Authorization: Bearer <name>` is sent, else the client address. Every variant reads these.
 */
export const ROUTE_LIMITS = {
  /** `GET /quotes`: 5 requests per 10 s. */
  quotes: { default: { limit: 5, ttl: '10s' } },
  /** `GET /search`: several limits at once, checked together; a rejected request uses up neither. */
  search: {
    burst: { limit: 3, ttl: '1s' },
    sustained: { limit: 20, ttl: '1m' },
  },
} as const satisfies Record<string, ThrottleLimits>;

/** A made-up price: the point of the route is its rate limit. */
export function quote(): { price: number } {
  return { price: Math.round((100 + Math.random() * 10) * 100) / 100 };
}

/** A made-up search over a fixed list. */
export function search(query: unknown): { query: string; results: string[] } {
  const text = typeof query === 'string' ? query.slice(0, 100) : '';
  const catalogue = ['apple', 'banana', 'cherry', 'grape', 'lemon', 'mango', 'orange', 'pear'];
  return {
    query: text,
    results: catalogue.filter((item) => item.includes(text.toLowerCase())),
  };
}
