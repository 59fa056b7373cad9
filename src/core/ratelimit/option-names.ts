import { TollgateConfigError } from '../errors.js';
import {
  THROTTLE_LIMIT_FIELDS,
  THROTTLE_SETTING_FIELDS,
  type ThrottleLimit,
  type ThrottleSettings,
} from './options.js';
import { oneOf } from './settings.js';

/**
 * The one rule for names in rate-limit options, wherever they are given: a name no reader knows is
 * refused at start-up, naming it and the fix. TypeScript catches a misspelled field in a literal;
 * plain JavaScript, config files and spread objects do not, and an ignored `windw`, `limt` or
 * `blockDuraton` leaves a limit other than the one written (a brute-force limit without its block).
 */

const LIMIT_FIELDS: ReadonlySet<string> = new Set(THROTTLE_LIMIT_FIELDS);
const SETTING_FIELDS: ReadonlySet<string> = new Set(THROTTLE_SETTING_FIELDS);

/**
 * Where a whole set of rate-limit options is given, as an adapter names it to its users, and the
 * options the adapter takes there besides the settings every adapter shares.
 */
export interface ThrottleOptionsSource {
  /** How the user wrote it, for the message: `throttle(options)`. */
  where: string;
  /** The adapter's own options besides the shared settings: `limits`, `store`, `handler`, ... */
  own: readonly string[];
}

/**
 * Lists an adapter's own option names for `ThrottleOptionsSource.own`, checked by the compiler:
 * `ownOptionNames<Options>()('limits', ...)` does not compile while a name of `Options` beyond the
 * shared settings is left out, so an option added later can never be refused as unknown.
 */
export function ownOptionNames<Options>() {
  return <const Names extends ReadonlyArray<keyof Options & string>>(
    ...names: Names &
      ([Exclude<Exclude<keyof Options, keyof ThrottleSettings>, Names[number]>] extends [never]
        ? unknown
        : never)
  ): Names => names;
}

/**
 * Refuses options that are not an object, or that have a field neither the shared settings
 * (THROTTLE_SETTING_FIELDS) nor the adapter know. Each adapter calls it on a whole options object
 * (`throttle(options)`, the module's `throttle`) before anything else reads it.
 */
export function validateThrottleOptions(options: unknown, source: ThrottleOptionsSource): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TollgateConfigError(
      'TOLLGATE_INVALID_LIMITS',
      `${source.where} must be an object of options, e.g. { limits: { default: { limit: 5, ttl: '10s' } } }`,
    );
  }
  const known = [...source.own, ...THROTTLE_SETTING_FIELDS];
  const knownSet = new Set(known);
  for (const field of Object.keys(options)) {
    if (!knownSet.has(field)) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LIMITS',
        `${source.where} has no option "${field}"${optionFix(field, known)}`,
      );
    }
  }
}

/**
 * A decorator's settings (`@Throttle(limits, settings)`): the shared settings only. A module-only
 * option (`onRejected`, `blockCache`) given there would be ignored as silently as a typo.
 */
export function checkSettingNames(settings: ThrottleSettings): void {
  for (const field of Object.keys(settings)) {
    if (!SETTING_FIELDS.has(field)) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LIMITS',
        `@Throttle(limits, settings) has no setting "${field}"${didYouMean(field, THROTTLE_SETTING_FIELDS)} (module-wide ones go in TollgateModule.forRoot({ throttle })): use ${oneOf(THROTTLE_SETTING_FIELDS)}`,
      );
    }
  }
}

/** The fields of one named limit: THROTTLE_LIMIT_FIELDS only. */
export function checkLimitFieldNames(name: string, limit: Partial<ThrottleLimit>): void {
  for (const field of Object.keys(limit)) {
    if (!LIMIT_FIELDS.has(field)) {
      throw new TollgateConfigError(
        'TOLLGATE_INVALID_LIMITS',
        `limit "${name}" has no field "${field}"${didYouMean(field, THROTTLE_LIMIT_FIELDS)}: use ${oneOf(THROTTLE_LIMIT_FIELDS)}`,
      );
    }
  }
}

/**
 * Names other rate limiters give a limit's fields (express-rate-limit, rate-limiter-flexible),
 * which users carry over, and Tollgate's name for each.
 */
const FOREIGN_LIMIT_FIELDS: Readonly<Record<string, string>> = {
  max: 'limit',
  points: 'limit',
  window: 'ttl',
  windowMs: 'ttl',
  duration: 'ttl',
};

const LIMIT_LIKE_FIELDS: readonly string[] = [
  ...THROTTLE_LIMIT_FIELDS,
  ...Object.keys(FOREIGN_LIMIT_FIELDS),
];

/**
 * The fix for an unknown field of a whole options object. A limit's field (or a near miss of one,
 * or another library's name for one) given at the top level is the usual mistake: limits are named
 * and go in `limits`. Otherwise the nearest option, and the list. A near miss as close to an
 * option as to a limit's field (`limts`) is taken for the option, which is valid where it stands.
 */
function optionFix(field: string, known: readonly string[]): string {
  const option = nearest(field, known);
  const limitLike = nearest(field, LIMIT_LIKE_FIELDS);
  if (limitLike && (!option || limitLike.distance < option.distance)) {
    const meant = FOREIGN_LIMIT_FIELDS[limitLike.name] ?? limitLike.name;
    const guess = meant === field ? '' : ` (did you mean "${meant}"?)`;
    return `${guess}: a limit's fields go inside a named limit, { limits: { default: { limit: 5, ttl: '10s' } } }`;
  }
  return `${option ? ` (did you mean "${option.name}"?)` : ''}: use ${oneOf(known)}`;
}

/** ` (did you mean "x"?)` for a near miss of one of `known` (or another library's name for it). */
function didYouMean(field: string, known: readonly string[]): string {
  const foreign = nearest(field, Object.keys(FOREIGN_LIMIT_FIELDS));
  const match = nearest(field, known)?.name ?? (foreign && FOREIGN_LIMIT_FIELDS[foreign.name]);
  return match !== undefined && known.includes(match) ? ` (did you mean "${match}"?)` : '';
}

/**
 * The name among `known` a misspelling most likely meant: fewest edits, case aside, and few
 * enough for the name's length (one in four letters, at least one), so a word of its own is not
 * taken for a typo.
 */
function nearest(
  field: string,
  known: readonly string[],
): { name: string; distance: number } | undefined {
  const given = field.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(given, name.toLowerCase());
    if (distance > Math.max(1, Math.floor(name.length / 4))) continue;
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
