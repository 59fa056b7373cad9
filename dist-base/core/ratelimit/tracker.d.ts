import type { RateLimitRequest, ThrottlePolicy } from './options.js';
/**
 * Who a request is counted as: a custom tracker's answer, else the authenticated principal, else
 * the client address. Each kind has its own prefix, so a user named `10.0.0.1` is never counted
 * together with the address 10.0.0.1.
 */
export declare function resolveTracker(request: RateLimitRequest, policy: Pick<ThrottlePolicy, 'tracker' | 'trustProxy' | 'ipv4Prefix' | 'ipv6Prefix'>): string | Promise<string>;
/**
 * The client's address behind `trustedHops` proxies. Each proxy appends the address it received the
 * request from to `X-Forwarded-For`, so reading from the right past the trusted hops gives the
 * first address no client could have written; entries further left are whatever the client sent.
 * With 0 hops the header is ignored entirely.
 */
export declare function clientAddress(remoteAddress: string | undefined, forwardedFor: string | readonly string[] | undefined, trustedHops: number): string | undefined;
/**
 * The unit a client is counted in. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, how a dual-stack socket
 * reports IPv4 peers) counts as the IPv4 address. IPv6 is grouped by prefix, because one
 * subscriber usually holds a whole /64 and could otherwise rotate addresses to escape a limit.
 * Anything that is not an IP address is kept as it is (it is hashed into the storage key).
 */
export declare function groupAddress(address: string, ipv4Prefix?: number, ipv6Prefix?: number): string;
/** The eight 16-bit groups of an IPv6 address, with `::` expanded and a dotted IPv4 tail converted. */
export declare function parseIPv6(address: string): number[] | undefined;
//# sourceMappingURL=tracker.d.ts.map