import { BlockList, isIPv4, isIPv6 } from 'node:net';

import { TollgateConfigError } from '../errors.js';

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
    if (address === undefined) return false;
    const plain = address.replace(/%.*$/, '');
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(plain);
    if (mapped) return this.list.check(mapped[1] as string, 'ipv4');
    if (isIPv4(plain)) return this.list.check(plain, 'ipv4');
    if (isIPv6(plain)) return this.list.check(plain, 'ipv6');
    return false;
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
