import { randomUUID } from 'node:crypto';

import { storageKey } from '../core/keys.js';
import {
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithm,
  type RateLimitRule,
} from '../core/store.js';

/** What the rate-limit contract suites share: a fresh key per test, and rules made short. */

export const freshKey = (): string => storageKey('contract', 'rl', [randomUUID()]);

export const rule = (
  name: string,
  limit: number,
  windowMs: number,
  algorithm: RateLimitAlgorithm,
  extra: Partial<RateLimitRule> = {},
): RateLimitRule => ({ name, limit, windowMs, algorithm, cost: 1, blockMs: 0, ...extra });

export const ALGORITHMS: readonly RateLimitAlgorithm[] = RATE_LIMIT_ALGORITHMS;
