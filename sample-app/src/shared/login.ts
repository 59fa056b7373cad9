import type { RateLimitRequest, ThrottleLimits } from 'tollgate';
import { InvalidRequestError } from './orders.js';

/**
 * `POST /login`, the brute-force recipe of docs/rate-limiting.md: failed logins are counted per
 * user name (5 per 15 min, so one account cannot be guessed at from many addresses) and per
 * address (20 per hour, so one address cannot try many accounts). A successful login gives its
 * units back on the address and resets the user's count. Every variant reads these.
 */
export const LOGIN_LIMITS = {
  /** Checked second, counted by user name; reset when that user logs in. */
  perUser: { user: { limit: 5, ttl: '15m' } },
  /** Checked first, counted by client address; successes are given back. */
  perAddress: { address: { limit: 20, ttl: '1h' } },
} as const satisfies Record<string, ThrottleLimits>;

/** Who the per-user limit counts: the user name of the login body, case-folded. */
export function loginUserName(request: RateLimitRequest): string | undefined {
  const body = (request.raw as { body?: unknown }).body;
  const name = (body as { username?: unknown } | undefined)?.username;
  return typeof name === 'string' && name.length > 0 && name.length <= 100
    ? name.toLowerCase()
    : undefined;
}

/** The demo's only rule for passwords: `<username>-secret`. Not real authentication. */
export function checkLogin(body: unknown): { user: string } | undefined {
  const { username, password } = (body ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || username.length === 0 || username.length > 100) {
    throw new InvalidRequestError('"username" must be a string of 1 to 100 characters');
  }
  if (typeof password !== 'string') throw new InvalidRequestError('"password" must be a string');
  return password === `${username.toLowerCase()}-secret`
    ? { user: username.toLowerCase() }
    : undefined;
}

/** The detail of the 401 every variant answers a wrong password with. */
export const LOGIN_FAILED = 'wrong user name or password';
