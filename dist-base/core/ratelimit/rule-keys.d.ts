import type { RateLimitRule } from '../../stores/store.js';
/**
 * The keys of one rate-limit decision, derived from its storage key, so every one of them keeps
 * that key's `{hash tag}` and one script may touch them all on Redis Cluster.
 */
/** Each rule's key ends in its algorithm, so changing a limit's algorithm never reads the other's state. */
export declare const ALGORITHM_CODES: {
    readonly 'fixed-window': "fw";
    readonly 'sliding-window': "sw";
    readonly 'token-bucket': "tb";
};
/** The state of one named limit. */
export declare function ruleKey(key: string, rule: Pick<RateLimitRule, 'name' | 'algorithm'>): string;
/** The blocks that rejections started (`blockDuration`), one field per limit name. */
export declare function blockKey(key: string): string;
//# sourceMappingURL=rule-keys.d.ts.map