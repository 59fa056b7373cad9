import { BlockList, isIPv4, isIPv6 } from 'node:net';

import { TollgateConfigError } from './errors.js';

/**
 * Client addresses, for rate limits and idempotency scopes alike: lists of addresses and ranges,
 * the client behind trusted proxies, and the unit a client is counted in.
 */

/**
 * A set of addresses and CIDR ranges (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`), for allow
 * and deny lists and for trusted proxies. IPv4-mapped IPv6 (`::ffff:10.1.2.3`, how a dual-stack
 * socket reports IPv4 peers) matches the IPv4 entries, as the rate limiter counts it.
 */
export class AddressList {
  private readonly list = new BlockList();

  /** `option` names the setting in the error a bad entry gets. */
  constructor(entries: readonly string[], option: string) {
    if (!Array.isArray(entries)) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_ADDRESS_LIST',
        `${option} must be an array of addresses or CIDR ranges, e.g. ['10.0.0.0/8', '2001:db8::1']`,
      );
    }
    for (const entry of entries) this.add(entry, option);
  }

  /** Whether `address` (with or without an IPv6 zone) is in the list; anything not an IP is not. */
  has(address: string | undefined): boolean {
    const ip = address === undefined ? undefined : plainAddress(address);
    return ip !== undefined && this.list.check(ip.address, ip.family);
  }

  private add(entry: unknown, option: string): void {
    const invalid = (): TollgateConfigError =>
      new TollgateConfigError(
        'TOLLGATE_INVALID_ADDRESS_LIST',
        `${option} has ${JSON.stringify(entry)}, which is not an IP address or CIDR range: use e.g. '203.0.113.7', '10.0.0.0/8' or '2001:db8::/32'`,
      );
    if (typeof entry !== 'string') throw invalid();
    const [network = '', prefix, extra] = entry.trim().split('/');
    if (extra !== undefined) throw invalid();
    const family = isIPv4(network) ? 'ipv4' : isIPv6(network) ? 'ipv6' : undefined;
    if (family === undefined) throw invalid();
    if (prefix === undefined) {
      this.list.addAddress(network, family);
      return;
    }
    const bits = Number(prefix);
    const max = family === 'ipv4' ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || bits > max) throw invalid();
    this.list.addSubnet(network, bits, family);
  }
}

/**
 * The client's address behind trusted proxies. Each proxy appends the address it received the
 * request from to `X-Forwarded-For`, so reading from the right past the trusted hops gives the
 * first address no client could have written; entries further left are whatever the client sent.
 * `trusted` is a number of hops, or the proxies' addresses: then the chain is walked from the
 * right while its entries are trusted proxies, and the first one that is not is the client. With
 * 0 hops the header is ignored entirely.
 */
export function clientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trusted: number | AddressList,
): string | undefined {
  if (trusted === 0 || remoteAddress === undefined) return remoteAddress;
  if (typeof trusted !== 'number') {
    if (!trusted.has(remoteAddress)) return remoteAddress;
    const chain = [...forwardedEntries(forwardedFor).map(stripPort), remoteAddress];
    // Every entry a trusted proxy: the leftmost was written by the outermost one.
    let index = chain.length - 1;
    while (index > 0 && trusted.has(chain[index])) index--;
    return chain[index];
  }
  const trustedHops = trusted;
  const chain = [...forwardedEntries(forwardedFor), remoteAddress];
  // A chain shorter than the trusted hops has no client-written entries at all: its leftmost entry
  // was written by the outermost proxy that was actually passed.
  const index = Math.max(0, chain.length - 1 - trustedHops);
  return stripPort(chain[index] as string);
}

function forwardedEntries(forwardedFor: string | readonly string[] | undefined): string[] {
  return (typeof forwardedFor === 'string' ? [forwardedFor] : (forwardedFor ?? []))
    .flatMap((value) => value.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/**
 * The unit a client is counted in. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, how a dual-stack socket
 * reports IPv4 peers) counts as the IPv4 address. IPv6 is grouped by prefix, because one
 * subscriber usually holds a whole /64 and could otherwise rotate addresses to escape a limit.
 * Anything that is not an IP address is kept as it is (it is hashed into the storage key).
 */
export function groupAddress(address: string, ipv4Prefix = 32, ipv6Prefix = 64): string {
  const ip = plainAddress(address);
  if (ip === undefined) return address.slice(0, 256);
  if (ip.family === 'ipv4') return groupIPv4(ip.address, ipv4Prefix);
  const groups = ip.groups;
  const masked = groups.map((group, index) => {
    const bitsKept = Math.min(16, Math.max(0, ipv6Prefix - index * 16));
    return group & (bitsKept === 0 ? 0 : (0xffff << (16 - bitsKept)) & 0xffff);
  });
  return `${masked.map((group) => group.toString(16)).join(':')}/${ipv6Prefix}`;
}

function groupIPv4(address: string, prefix: number): string {
  if (prefix === 32) return address;
  const octets = address.split('.').map(Number);
  const value =
    (((octets[0] as number) << 24) |
      ((octets[1] as number) << 16) |
      ((octets[2] as number) << 8) |
      (octets[3] as number)) >>>
    0;
  const masked = (value & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
  return `${[masked >>> 24, (masked >>> 16) & 0xff, (masked >>> 8) & 0xff, masked & 0xff].join('.')}/${prefix}`;
}

/** `::ffff:0:0/96`: an IPv4 address carried in IPv6. */
function isIPv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
}

/** The eight 16-bit groups of an IPv6 address, with `::` expanded and a dotted IPv4 tail converted. */
export function parseIPv6(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let head = address;
  const tail: number[] = [];
  const lastColon = address.lastIndexOf(':');
  const last = address.slice(lastColon + 1);
  if (last.includes('.')) {
    const octets = last.split('.').map(Number);
    tail.push(
      ((octets[0] as number) << 8) | (octets[1] as number),
      ((octets[2] as number) << 8) | (octets[3] as number),
    );
    head = address.slice(0, lastColon + 1);
    // Keep a trailing `::`, drop a single `:` that only separated the IPv4 tail.
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const [left = '', right] = head.split('::');
  const toGroups = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16));
  const leftGroups = toGroups(left);
  const rightGroups = right === undefined ? [] : toGroups(right);
  const missing = 8 - leftGroups.length - rightGroups.length - tail.length;
  return [
    ...leftGroups,
    ...new Array<number>(Math.max(0, missing)).fill(0),
    ...rightGroups,
    ...tail,
  ];
}

/** `1.2.3.4:5678` and `[2001:db8::1]:443`, as some proxies write them, to the bare address. */
function stripPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1] as string;
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  if (v4WithPort) return v4WithPort[1] as string;
  return entry;
}

/**
 * An address as the lists and the grouping read it, the one place both are normalised: without
 * its IPv6 zone (`fe80::1%eth0`), and an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, how a
 * dual-stack socket reports IPv4 peers, in dotted or hex form) as the IPv4 address it carries.
 * `undefined` for anything that is not an IP address.
 */
export function plainAddress(
  address: string,
):
  | { family: 'ipv4'; address: string }
  | { family: 'ipv6'; address: string; groups: number[] }
  | undefined {
  const plain = address.replace(/%.*$/, '');
  if (isIPv4(plain)) return { family: 'ipv4', address: plain };
  const groups = parseIPv6(plain);
  if (!groups) return undefined;
  if (!isIPv4Mapped(groups)) return { family: 'ipv6', address: plain, groups };
  const high = groups[6] as number;
  const low = groups[7] as number;
  return { family: 'ipv4', address: `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}` };
}
