import { TollgateConfigError } from './errors.js';

/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'5s'`, `'10m'`, `'24h'`, `'1d'`. */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * The longest duration an option may take. Redis reads an expiry as an integer, and a Lua number
 * of 1e17 or more reaches it as `1e+17`, which it refuses: every call would then fail, and a
 * limit would be skipped as if the store were down. A century is beyond any real window.
 */
const MAX_DURATION_MS = 36_500 * 86_400_000;

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Milliseconds in `n` seconds: `seconds(5)` reads better than `5000`. */
export const seconds = (n: number): number => n * UNIT_MS.s;
export const minutes = (n: number): number => n * UNIT_MS.m;
export const hours = (n: number): number => n * UNIT_MS.h;
export const days = (n: number): number => n * UNIT_MS.d;

/**
 * Parses a duration to whole milliseconds. `what` names the option in the error, so a typo in
 * configuration says which setting to fix.
 */
export function toMilliseconds(value: Duration | string, what: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else {
    const match = DURATION_PATTERN.exec(value.trim());
    if (!match) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_DURATION',
        `${what} is "${value}", which is not a duration: use milliseconds or a string such as '500ms', '5s', '10m', '24h', '1d'`,
      );
    }
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  }
  if (!Number.isFinite(ms) || ms < 1) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_DURATION',
      `${what} must be at least 1 ms, got ${String(value)}`,
    );
  }
  if (ms > MAX_DURATION_MS) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_DURATION',
      `${what} is ${String(value)}, longer than 100 years: give a duration of at most '36500d'`,
    );
  }
  return Math.round(ms);
}
