import { Logger } from '@nestjs/common';

import { TollgateConfigError } from '../core/errors.js';
import { LeaseClaims } from '../core/lease/claims.js';
import {
  validateExclusiveLeaseOptions,
  type ExclusiveLeaseOptions,
  type ExclusiveLeases,
} from '../core/lease/exclusive.js';

/** Marks a class that has `@Exclusive()` methods, so the module finds its instances at start-up. */
const HAS_EXCLUSIVE_METHODS = Symbol.for('tollgate:exclusive-methods');

/**
 * The leases of each instance with `@Exclusive()` methods: those of the `TollgateModule` of its
 * app, set when the app starts. A method decorator runs before any module exists, so the method
 * finds them here, by the instance it is called on: two apps in one process keep theirs apart.
 */
const leasesOf = new WeakMap<object, ExclusiveLeases>();
/** Each module's claims to its leases, held across calls. */
const claimsOf = new WeakMap<ExclusiveLeases, LeaseClaims>();

/** @internal What `TollgateModule` does on start-up and shutdown. */
export const exclusiveMethods = {
  /** Whether `instance` has `@Exclusive()` methods. */
  has(instance: unknown): instance is object {
    return (
      typeof instance === 'object' &&
      instance !== null &&
      (instance as Record<symbol, unknown>)[HAS_EXCLUSIVE_METHODS] === true
    );
  },
  bind(instance: object, leases: ExclusiveLeases): void {
    leasesOf.set(instance, leases);
  },
  /** Releases every lease the module's `@Exclusive()` methods hold. */
  async releaseAll(leases: ExclusiveLeases): Promise<void> {
    const claims = claimsOf.get(leases);
    claimsOf.delete(leases);
    await claims?.releaseAll();
  },
};

/**
 * Runs the method on one instance of the app at a time: the one holding the exclusive lease
 * `name`; on every other instance a call does nothing and resolves to `undefined`. Made for
 * scheduled jobs (`@Cron()`, `@Interval()` of `@nestjs/schedule`): the instance that takes the
 * lease keeps it, renewed in the background, and runs every tick; when it dies, another instance
 * takes over at its next tick after `ttl`. The lease is released when the app shuts down.
 *
 * The method receives the lease as an extra last argument: stop when `lease.signal` aborts, and
 * fence writes with `lease.fencingToken`.
 *
 * @example
 * ```ts
 * @Cron('0 * * * * *')
 * @Exclusive('hourly-report', { ttl: '30s' })
 * async report(lease?: ExclusiveLease) {
 *   await this.reports.build({ signal: lease?.signal, fencingToken: lease?.fencingToken });
 * }
 * ```
 */
export function Exclusive(name: string, options: ExclusiveLeaseOptions = {}): MethodDecorator {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LEASE_NAME',
      '@Exclusive() needs the name of its lease, e.g. @Exclusive("nightly-report")',
    );
  }
  validateExclusiveLeaseOptions(options);
  return (target, _property, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    if (typeof original !== 'function') {
      throw new TollgateConfigError('TOLLGATE_INVALID_EXCLUSIVE', '@Exclusive() goes on a method');
    }
    Object.defineProperty(target, HAS_EXCLUSIVE_METHODS, { value: true, configurable: true });
    const exclusive = async function (this: object, ...args: unknown[]): Promise<unknown> {
      const lease = await claimsFor(this, name).current(name, options);
      if (!lease) return undefined;
      return original.apply(this, [...args, lease]);
    };
    // Decorators applied before this one (`@Cron()` below it) left their metadata on the method.
    for (const key of Reflect.getOwnMetadataKeys?.(original) ?? []) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), exclusive);
    }
    Object.defineProperty(exclusive, 'name', { value: original.name });
    descriptor.value = exclusive;
    return descriptor;
  };
}

/** The claims of the module that started `instance`. */
function claimsFor(instance: object, name: string): LeaseClaims {
  const leases = leasesOf.get(instance);
  if (!leases) {
    throw new TollgateConfigError(
      'TOLLGATE_EXCLUSIVE_WITHOUT_MODULE',
      `@Exclusive('${name}') ran on an object TollgateModule did not start: make its class a provider of an app that imports TollgateModule.forRoot()`,
    );
  }
  let claims = claimsOf.get(leases);
  if (!claims) claimsOf.set(leases, (claims = new LeaseClaims(leases, skipped)));
  return claims;
}

/** A call skipped because the store could not be reached: said in the app's log. */
function skipped(name: string, error: Error): void {
  new Logger('Tollgate').warn(
    `@Exclusive('${name}') skipped: the store is unavailable (${error.message})`,
  );
}
