import type { RateLimitRule } from '../store.js';

/**
 * The keys of one rate-limit decision, derived from its storage key, so every one of them keeps
 * that key's `{hash tag}` and one script may touch them all on Redis Cluster.
 */

/** Each rule's key ends in its algorithm, so changing a limit's algorithm never reads the other's state. */
export const ALGORITHM_CODES = {
  'fixed-window': 'fw',
  'sliding-window': 'sw',
  'token-bucket': 'tb',
} as const satisfies Record<RateLimitRule['algorithm'], string>;

/** The state of one named limit. */
export function ruleKey(key: string, rule: Pick<RateLimitRule, 'name' | 'algorithm'>): string {
  return `${key}:${rule.name}:${ALGORITHM_CODES[rule.algorithm]}`;
}

/** The blocks that rejections started (`blockDuration`), one field per limit name. */
export function blockKey(key: string): string {
  return `${key}:block`;
}
